package registry

import (
	"encoding/hex"
	"encoding/json"
)

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func jsonOf(v any) (json.RawMessage, error) { return json.Marshal(v) }
