package tee

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"

	sevdata "github.com/google/go-sev-guest/verify/testdata"
	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
	tdxdata "github.com/google/go-tdx-guest/testing/testdata"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// recordedQuote returns go-tdx-guest's sample quote without the text the library appended to it.
func recordedQuote(t testing.TB) []byte {
	q, err := abi.QuoteToProto(tdxdata.RawQuote)
	require.NoError(t, err)
	q.(*tdxpb.QuoteV4).ExtraBytes = nil
	raw, err := abi.QuoteToAbiBytes(q)
	require.NoError(t, err)
	return raw
}

func recordedCollateralBodies(t *testing.T) (pcs.TcbInfo, pcs.EnclaveIdentity) {
	var info pcs.TdxTcbInfo
	require.NoError(t, json.Unmarshal(tdxdata.TcbInfoBody, &info))
	var qe pcs.QeIdentity
	require.NoError(t, json.Unmarshal(tdxdata.QeIdentityBody, &qe))
	return info.TcbInfo, qe.EnclaveIdentity
}

// TestEvaluateTDXTCB covers the TCB-level matching and status combination on the real quote and
// the real PCS bodies. The recorded TCB info is newer than the quote (no level matches, which is
// what go-tdx-guest's own negative test expects), and its signature cannot be redone, so the
// positive cases lower the levels' CPU and TDX SVNs after the signature stage, as go-tdx-guest's
// TestVerifyUsingTcbInfoV4 does. End-to-end coverage of every status is in the fake-chain tests.
func TestEvaluateTDXTCB(t *testing.T) {
	q, err := parseTDXQuote(recordedQuote(t))
	require.NoError(t, err)
	ext, err := pcs.PckCertificateExtensions(q.chain.PCKCertificate)
	require.NoError(t, err)

	info, qe := recordedCollateralBodies(t)
	_, _, err = evaluateTDXTCB(info, qe, q.pb, ext)
	require.ErrorIs(t, err, ErrTCBUnknown, "the recorded TCB info lists only newer levels")

	lowered := func(levelStatus []pcs.TcbComponentStatus) pcs.TcbInfo {
		i, _ := recordedCollateralBodies(t)
		for li := range i.TcbLevels {
			for c := range i.TcbLevels[li].Tcb.TdxTcbcomponents {
				i.TcbLevels[li].Tcb.TdxTcbcomponents[c].Svn = 0
			}
			for c := range i.TcbLevels[li].Tcb.SgxTcbcomponents {
				i.TcbLevels[li].Tcb.SgxTcbcomponents[c].Svn = 0
			}
			i.TcbLevels[li].TcbStatus = levelStatus[li]
		}
		return i
	}
	tests := []struct {
		name       string
		levels     []pcs.TcbComponentStatus
		qeStatus   pcs.TcbComponentStatus
		want       TCBStatus
		advisories int
	}{
		// Level 0 needs PCESVN 11 (the platform has 11), level 1 PCESVN 5: level 0 wins.
		{"first matching level", []pcs.TcbComponentStatus{"UpToDate", "OutOfDate"}, "UpToDate", TCBUpToDate, 0},
		{"platform sw hardening", []pcs.TcbComponentStatus{"SWHardeningNeeded", "UpToDate"}, "UpToDate", TCBSWHardeningNeeded, 0},
		{"qe out of date", []pcs.TcbComponentStatus{"ConfigurationNeeded", "UpToDate"}, "OutOfDate", TCBOutOfDateConfigurationNeeded, 0},
		{"revoked", []pcs.TcbComponentStatus{"Revoked", "UpToDate"}, "UpToDate", TCBRevoked, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := lowered(tc.levels)
			e := qe
			e.TcbLevels = append([]pcs.TcbLevel(nil), qe.TcbLevels...)
			e.TcbLevels[0].TcbStatus = tc.qeStatus
			got, adv, err := evaluateTDXTCB(i, e, q.pb, ext)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Len(t, adv, tc.advisories)
		})
	}

	// The second level carries Intel's advisories; make it the only match.
	i := lowered([]pcs.TcbComponentStatus{"UpToDate", "OutOfDate"})
	i.TcbLevels[0].Tcb.Pcesvn = 200
	got, adv, err := evaluateTDXTCB(i, qe, q.pb, ext)
	require.NoError(t, err)
	require.Equal(t, TCBOutOfDate, got)
	require.Contains(t, adv, "INTEL-SA-00106")

	mismatches := []struct {
		name string
		edit func(*pcs.TcbInfo, *pcs.EnclaveIdentity)
		want error
	}{
		{"fmspc", func(i *pcs.TcbInfo, _ *pcs.EnclaveIdentity) { i.Fmspc = "11111f000000" }, ErrCollateralMismatch},
		{"pceid", func(i *pcs.TcbInfo, _ *pcs.EnclaveIdentity) { i.PceID = "1111" }, ErrCollateralMismatch},
		{"mrsignerseam", func(i *pcs.TcbInfo, _ *pcs.EnclaveIdentity) { i.TdxModule.Mrsigner.Bytes = bytes.Repeat([]byte{1}, 48) }, ErrCollateralMismatch},
		{"seam attributes", func(i *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			i.TdxModule.Attributes.Bytes = []byte{1, 0, 0, 0, 0, 0, 0, 0}
		}, ErrCollateralMismatch},
		{"qe mrsigner", func(_ *pcs.TcbInfo, e *pcs.EnclaveIdentity) { e.Mrsigner.Bytes = make([]byte, 32) }, ErrCollateralMismatch},
		{"qe isvprodid", func(_ *pcs.TcbInfo, e *pcs.EnclaveIdentity) { e.IsvProdID = 5 }, ErrCollateralMismatch},
		{"qe miscselect", func(_ *pcs.TcbInfo, e *pcs.EnclaveIdentity) { e.Miscselect.Bytes = []byte{1, 0, 0, 0} }, ErrCollateralMismatch},
		{"qe attributes", func(_ *pcs.TcbInfo, e *pcs.EnclaveIdentity) { e.Attributes.Bytes = bytes.Repeat([]byte{0xff}, 16) }, ErrCollateralMismatch},
		{"qe svn too old", func(_ *pcs.TcbInfo, e *pcs.EnclaveIdentity) {
			e.TcbLevels = []pcs.TcbLevel{{Tcb: pcs.Tcb{Isvsvn: 9}, TcbStatus: "UpToDate"}}
		}, ErrTCBUnknown},
	}
	for _, tc := range mismatches {
		t.Run(tc.name, func(t *testing.T) {
			i := lowered([]pcs.TcbComponentStatus{"UpToDate", "UpToDate"})
			_, e := recordedCollateralBodies(t)
			tc.edit(&i, &e)
			_, _, err := evaluateTDXTCB(i, e, q.pb, ext)
			require.ErrorIs(t, err, tc.want)
		})
	}

	// A quote from a TDX module with its own identity (TEE_TCB_SVN[1] > 0) needs that identity
	// in the TCB info.
	moduleQuote := proto.Clone(q.pb).(*tdxpb.QuoteV4)
	moduleQuote.TdQuoteBody.TeeTcbSvn[1] = 1
	_, _, err = evaluateTDXTCB(lowered([]pcs.TcbComponentStatus{"UpToDate", "UpToDate"}), qe, moduleQuote, ext)
	require.ErrorIs(t, err, ErrTCBUnknown)
	require.ErrorContains(t, err, "TDX_01")
}

// TestTDXDebugAndModulePolicy covers the policy stage on the real quote body with the debug bit
// set, which no recorded quote has (and which cannot be re-signed with Intel's keys).
func TestTDXDebugAndModulePolicy(t *testing.T) {
	q, err := parseTDXQuote(recordedQuote(t))
	require.NoError(t, err)
	r, err := tdxReport(q.pb, TCBUpToDate, nil, Policy{})
	require.NoError(t, err)
	require.False(t, r.Debug)
	require.Len(t, r.Measurement, TDXMeasurementSize)
	require.Equal(t, q.pb.GetTdQuoteBody().GetMrTd(), r.Measurement[:48])

	_, err = tdxReport(q.pb, TCBUpToDate, nil, Policy{TDXAllowedMRSEAMs: [][]byte{make([]byte, 48)}})
	require.ErrorIs(t, err, ErrPolicyViolation)
	_, err = tdxReport(q.pb, TCBUpToDate, nil, Policy{TDXAllowedMRSEAMs: [][]byte{make([]byte, 48), q.pb.GetTdQuoteBody().GetMrSeam()}})
	require.NoError(t, err)

	q.pb.TdQuoteBody.TdAttributes[0] |= tdAttributeDebug
	_, err = tdxReport(q.pb, TCBUpToDate, nil, Policy{})
	require.ErrorIs(t, err, ErrDebugNotAllowed)
	r, err = tdxReport(q.pb, TCBUpToDate, nil, Policy{AllowDebug: true})
	require.NoError(t, err)
	require.True(t, r.Debug)
}

func TestCombineStatus(t *testing.T) {
	tests := []struct {
		in   []TCBStatus
		want TCBStatus
	}{
		{nil, TCBUpToDate},
		{[]TCBStatus{TCBUpToDate, TCBUpToDate}, TCBUpToDate},
		{[]TCBStatus{TCBSWHardeningNeeded, TCBUpToDate}, TCBSWHardeningNeeded},
		{[]TCBStatus{TCBSWHardeningNeeded, TCBConfigurationNeeded}, TCBConfigurationAndSWHardeningNeeded},
		{[]TCBStatus{TCBConfigurationAndSWHardeningNeeded}, TCBConfigurationAndSWHardeningNeeded},
		{[]TCBStatus{TCBOutOfDate, TCBConfigurationNeeded}, TCBOutOfDateConfigurationNeeded},
		{[]TCBStatus{TCBOutOfDate, TCBSWHardeningNeeded}, TCBOutOfDate},
		{[]TCBStatus{TCBOutOfDateConfigurationNeeded, TCBUpToDate}, TCBOutOfDateConfigurationNeeded},
		{[]TCBStatus{TCBRevoked, TCBUpToDate}, TCBRevoked},
		{[]TCBStatus{"SomethingNew"}, TCBRevoked},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, combineStatus(tc.in...), "%v", tc.in)
	}
}

func TestTCBAtLeast(t *testing.T) {
	require.True(t, tcbAtLeast(0x4405000000000002, 0))
	require.True(t, tcbAtLeast(0x4405000000000002, 0x4405000000000002))
	require.True(t, tcbAtLeast(0x4405000000000003, 0x4405000000000002))
	require.False(t, tcbAtLeast(0x4405000000000002, 0x4405000000000003), "bootloader SPL lower")
	require.False(t, tcbAtLeast(0x4405000000000002, 0x4505000000000000), "microcode SPL lower")
	// A higher byte elsewhere does not compensate a lower one.
	require.False(t, tcbAtLeast(0xff00000000000000, 0x0001000000000000))
}

func TestParseSignedBodyStrictness(t *testing.T) {
	chain := []byte{}
	for _, doc := range []string{
		`[]`,
		`{"tcbInfo":{}}`,
		`{"tcbInfo":{},"signature":"00","extra":1}`,
		`{"tcbInfo":{},"signature":1}`,
		`{"tcbInfo":{},"signature":"zz"}`,
		`{"tcbInfo":[],"signature":"` + string(bytes.Repeat([]byte("00"), 64)) + `"}`,
	} {
		_, err := parseSignedBody[pcs.TcbInfo]("tdx/tcb-info", []byte(doc), "tcbInfo", chain)
		require.ErrorIs(t, err, ErrMalformed, doc)
	}
}

func fuzzSeedQuotes(f *testing.F) {
	f.Add(recordedQuote(f))
	f.Add(append([]byte(nil), sevdata.AttestationBytes...))
	sim, err := SignSimEvidence(ed25519.NewKeyFromSeed(make([]byte, 32)), make([]byte, 32), false, ReportData{1})
	require.NoError(f, err)
	f.Add(sim.Quote)
	f.Add([]byte{})
}

// The parsers of untrusted quote bytes must never panic, and must either refuse with
// ErrMalformed or return a quote that re-encodes to the same bytes.
func FuzzParseTDXQuote(f *testing.F) {
	fuzzSeedQuotes(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, err := parseTDXQuote(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		re, err := abi.QuoteToAbiBytes(q.pb)
		if err != nil || !bytes.Equal(re, raw) {
			t.Fatal("accepted a quote that does not re-encode identically")
		}
	})
}

func FuzzParseSNPReport(f *testing.F) {
	fuzzSeedQuotes(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := parseSNPReport(raw); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}

func FuzzParseSimQuote(f *testing.F) {
	fuzzSeedQuotes(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := parseSimQuote(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if len(s.signed)+len(s.signature) != len(raw) {
			t.Fatal("parsed quote does not cover the input")
		}
	})
}

// FuzzParseTDXCollateral feeds arbitrary PCS bodies, issuer chains and CRLs to the collateral
// parser, seeded with the recorded responses.
func FuzzParseTDXCollateral(f *testing.F) {
	f.Add(tdxdata.TcbInfoBody, tdxdata.QeIdentityBody, tdxdata.PckCrlBody, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte(`{"tcbInfo":{"tcbLevels":[{"tcb":{}}]},"signature":""}`), []byte(`{}`), tdxdata.RootCrlBody, []byte{})
	f.Fuzz(func(t *testing.T, tcbInfo, qeIdentity, crl, chain []byte) {
		c := TDXCollateral{TCBInfo: tcbInfo, TCBInfoIssuerChain: chain, QEIdentity: qeIdentity, QEIdentityIssuerChain: chain, PCKCRL: crl, RootCACRL: crl}
		if _, err := parseTDXCollateral(c); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrCollateralMissing) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}
