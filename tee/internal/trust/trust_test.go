package trust_test

import (
	"bytes"
	"testing"

	sevtrust "github.com/google/go-sev-guest/verify/trust"
	"github.com/google/go-tdx-guest/abi"
	tdxdata "github.com/google/go-tdx-guest/testing/testdata"
	tdxverify "github.com/google/go-tdx-guest/verify"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/tee/internal/trust"
)

func TestEmbeddedRoots(t *testing.T) {
	r := trust.Embedded()

	// The Intel root is the one at the top of the real recorded quote's PCK chain.
	q, err := abi.QuoteToProto(tdxdata.RawQuote)
	require.NoError(t, err)
	chain, err := tdxverify.ExtractChainFromQuote(q)
	require.NoError(t, err)
	require.True(t, bytes.Equal(chain.RootCertificate.Raw, r.Intel.Raw))
	require.Equal(t, "Intel SGX Root CA", r.Intel.Subject.CommonName)

	// The AMD roots are go-sev-guest's, one per product line, and self-signed.
	require.Len(t, r.AMD, 3)
	for line, ark := range r.AMD {
		require.Equal(t, "ARK-"+line, ark.Subject.CommonName)
		lib, err := sevtrust.GetDefaultRootCerts(line)
		require.NoError(t, err)
		require.True(t, bytes.Equal(lib.ProductCerts.Ark.Raw, ark.Raw), line)
	}
}
