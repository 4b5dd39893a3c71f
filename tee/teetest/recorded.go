package teetest

import (
	"net/url"
	"testing"
	"time"

	"github.com/google/go-sev-guest/kds"
	sevdata "github.com/google/go-sev-guest/verify/testdata"
	sevtrust "github.com/google/go-sev-guest/verify/trust"
	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
	tdxtesting "github.com/google/go-tdx-guest/testing"
	tdxdata "github.com/google/go-tdx-guest/testing/testdata"

	"github.com/phala-go/phala/tee"
)

// Pinned times at which the recorded samples are valid.
var (
	// RecordedTDXTime is inside every validity window of go-tdx-guest's sample quote and PCS
	// responses (the QE identity and PCK CRL expire on 2023-07-08, the TCB info on 2023-07-18).
	RecordedTDXTime = time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)
	// RecordedSNPTime is inside the validity of go-sev-guest's sample VCEK (2022-09-24 to
	// 2029-09-24) and of the embedded Milan ASK and ARK.
	RecordedSNPTime = time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)
)

// RecordedTDX returns go-tdx-guest's real quote from a Sapphire Rapids machine and the Intel PCS
// responses recorded with it. The library appended 39 bytes of text after the signed data of its
// sample ("extra bytes(only for testing purpose)"); they are not part of a quote and are removed.
//
// The recorded TCB info lists only levels newer than the quote's TEE_TCB_SVN, so full verification
// ends in tee.ErrTCBUnknown after every signature, chain, CRL and validity check has passed
// (go-tdx-guest's own TestNegativeRawQuoteVerifyWithCollateral expects the same).
func RecordedTDX(tb testing.TB) (tee.Evidence, tee.Collateral) {
	tb.Helper()
	q := recordedTDXProto(tb)
	raw, err := abi.QuoteToAbiBytes(q)
	if err != nil {
		tb.Fatalf("re-encode recorded quote: %v", err)
	}
	col := tee.Collateral{Kind: tee.KindTDX, TDX: tee.TDXCollateral{
		TCBInfo:               tdxdata.TcbInfoBody,
		TCBInfoIssuerChain:    issuerChain(tb, tdxtesting.TcbInfoHeader, pcs.TcbInfoIssuerChainPhrase),
		QEIdentity:            tdxdata.QeIdentityBody,
		QEIdentityIssuerChain: issuerChain(tb, tdxtesting.QeIdentityHeader, pcs.SgxQeIdentityIssuerChainPhrase),
		PCKCRL:                tdxdata.PckCrlBody,
		RootCACRL:             tdxdata.RootCrlBody,
	}}
	return tee.Evidence{Kind: tee.KindTDX, Quote: raw}, col
}

// RecordedTDXReportData is the report data of the recorded TDX quote.
func RecordedTDXReportData(tb testing.TB) tee.ReportData {
	var rd tee.ReportData
	copy(rd[:], recordedTDXProto(tb).GetTdQuoteBody().GetReportData())
	return rd
}

func recordedTDXProto(tb testing.TB) *tdxpb.QuoteV4 {
	tb.Helper()
	anyQuote, err := abi.QuoteToProto(tdxdata.RawQuote)
	if err != nil {
		tb.Fatalf("parse recorded quote: %v", err)
	}
	q := anyQuote.(*tdxpb.QuoteV4)
	q.ExtraBytes = nil
	return q
}

func issuerChain(tb testing.TB, header map[string][]string, key string) []byte {
	tb.Helper()
	s, err := url.QueryUnescape(header[key][0])
	if err != nil {
		tb.Fatalf("recorded %s header: %v", key, err)
	}
	return []byte(s)
}

// RecordedSNP returns go-sev-guest's real Milan attestation report with its VCEK and the Milan
// ASK embedded in the library. The report's guest policy has DEBUG set, so a strict policy refuses
// it with tee.ErrDebugNotAllowed, and no AMD CRL was recorded, so only a policy with
// SNPAllowMissingCRL accepts the collateral.
func RecordedSNP(tb testing.TB) (tee.Evidence, tee.Collateral) {
	tb.Helper()
	ask, _, err := kds.ParseProductCertChain(sevtrust.AskArkMilanVcekBytes)
	if err != nil {
		tb.Fatalf("embedded Milan bundle: %v", err)
	}
	return tee.Evidence{Kind: tee.KindSEVSNP, Quote: append([]byte(nil), sevdata.AttestationBytes...)},
		tee.Collateral{Kind: tee.KindSEVSNP, SNP: tee.SNPCollateral{EndorsementKey: append([]byte(nil), sevdata.VcekBytes...), Intermediate: ask}}
}
