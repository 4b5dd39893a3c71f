package collateral

import (
	"context"
	"errors"
	"net/http"
	"testing"

	sevdata "github.com/google/go-sev-guest/verify/testdata"
	sevtrust "github.com/google/go-sev-guest/verify/trust"
	tdxdata "github.com/google/go-tdx-guest/testing/testdata"

	"github.com/phala-go/phala/tee"
)

// FuzzResponseExpiry feeds arbitrary vendor responses to the parsers that read their expiry.
func FuzzResponseExpiry(f *testing.F) {
	for _, seed := range [][]byte{tdxdata.TcbInfoBody, tdxdata.QeIdentityBody, tdxdata.PckCrlBody, tdxdata.RootCrlBody, sevdata.VcekBytes, sevtrust.AskArkMilanVcekBytes, []byte(`{"tcbInfo":1}`)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, parse := range []expiryFunc{pcsBodyExpiry("tcbInfo"), pcsBodyExpiry("enclaveIdentity"), crlExpiry, certExpiry} {
			if exp, err := parse(body); err == nil && exp.IsZero() {
				t.Fatal("accepted a body without an expiry")
			}
		}
	})
}

type offline struct{}

func (offline) RoundTrip(*http.Request) (*http.Response, error) { return nil, errors.New("offline") }

// FuzzSNPCertTable feeds arbitrary certificate tables, as a guest's host could attach them, to
// FetchSNP (with the network cut).
func FuzzSNPCertTable(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, table []byte) {
		fetcher := &Fetcher{Client: &http.Client{Transport: offline{}}, SNPProductLine: "Milan"}
		ev := tee.Evidence{Kind: tee.KindSEVSNP, Quote: sevdata.AttestationBytes}
		if col, err := fetcher.FetchSNP(context.Background(), ev, table); err == nil && len(col.SNP.CRL) == 0 {
			t.Fatal("returned collateral without a CRL although the network is cut")
		}
	})
}
