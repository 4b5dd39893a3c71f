package tee_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/teetest"
)

func TestEvidenceEncoding(t *testing.T) {
	tdxEv, _ := teetest.RecordedTDX(t)
	snpEv, _ := teetest.RecordedSNP(t)
	sim := tee.Evidence{Kind: tee.KindSim, Quote: bytes.Repeat([]byte{7}, 194)}
	for _, ev := range []tee.Evidence{tdxEv, snpEv, sim} {
		raw, err := ev.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, byte(1), raw[0])
		var dec tee.Evidence
		require.NoError(t, dec.UnmarshalBinary(raw))
		require.Equal(t, ev, dec)
		require.NotSame(t, &raw[6], &dec.Quote[0], "decoded evidence must not alias the input")
	}

	good, err := sim.MarshalBinary()
	require.NoError(t, err)
	bad := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, tee.ErrMalformed},
		{"header only", good[:6], tee.ErrMalformed},
		{"version", append([]byte{2}, good[1:]...), tee.ErrMalformed},
		{"kind 0", append([]byte{1, 0}, good[2:]...), tee.ErrUnsupportedKind},
		{"kind 9", append([]byte{1, 9}, good[2:]...), tee.ErrUnsupportedKind},
		{"truncated", good[:len(good)-1], tee.ErrMalformed},
		{"trailing", append(append([]byte(nil), good...), 0), tee.ErrMalformed},
		{"length too big", append([]byte{1, 1, 0xff, 0xff, 0xff, 0xff}, good[6:]...), tee.ErrMalformed},
		{"sim of wrong size", mustMarshal(t, tee.Evidence{Kind: tee.KindTDX, Quote: sim.Quote[:100]}, 1), tee.ErrMalformed},
		{"snp of wrong size", mustMarshal(t, tee.Evidence{Kind: tee.KindTDX, Quote: snpEv.Quote[:100]}, 3), tee.ErrMalformed},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			dec := tee.Evidence{Kind: tee.KindSim, Quote: []byte{42}}
			err := dec.UnmarshalBinary(tc.data)
			teetest.RequireRefusal(t, err, tc.want)
			require.Equal(t, tee.Evidence{Kind: tee.KindSim, Quote: []byte{42}}, dec, "a refused decode leaves the value unchanged")
		})
	}

	for _, ev := range []tee.Evidence{
		{Kind: "sgx", Quote: []byte{1}},
		{Kind: tee.KindTDX},
		{Kind: tee.KindTDX, Quote: make([]byte, tee.MaxQuoteSize+1)},
		{Kind: tee.KindSim, Quote: make([]byte, 10)},
	} {
		_, err := ev.MarshalBinary()
		require.Error(t, err, "%s %d bytes", ev.Kind, len(ev.Quote))
	}
}

// mustMarshal encodes ev and then relabels its kind tag, to build inputs MarshalBinary refuses.
func mustMarshal(t *testing.T, ev tee.Evidence, kindTag byte) []byte {
	raw, err := ev.MarshalBinary()
	require.NoError(t, err)
	raw[1] = kindTag
	return raw
}

func TestCollateralEncoding(t *testing.T) {
	_, tdxCol := teetest.RecordedTDX(t)
	_, snpCol := teetest.RecordedSNP(t)
	for _, col := range []tee.Collateral{{}, {Kind: tee.KindSim}, tdxCol, snpCol} {
		raw, err := col.MarshalBinary()
		require.NoError(t, err)
		var dec tee.Collateral
		require.NoError(t, dec.UnmarshalBinary(raw))
		require.Equal(t, col, dec)
		again, err := dec.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, raw, again)
	}
	empty, err := tee.Collateral{}.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, []byte{1, 0}, empty)

	good, err := snpCol.MarshalBinary()
	require.NoError(t, err)
	bad := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, tee.ErrMalformed},
		{"version", append([]byte{0}, good[1:]...), tee.ErrMalformed},
		{"kind", append([]byte{1, 4}, good[2:]...), tee.ErrUnsupportedKind},
		{"truncated field", good[:len(good)-1], tee.ErrMalformed},
		{"truncated length", good[:4], tee.ErrMalformed},
		{"trailing", append(append([]byte(nil), good...), 0), tee.ErrMalformed},
		{"none with fields", []byte{1, 0, 0, 0, 0, 0}, tee.ErrMalformed},
		{"huge length", []byte{1, 3, 0x7f, 0xff, 0xff, 0xff}, tee.ErrMalformed},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			dec := snpCol
			err := dec.UnmarshalBinary(tc.data)
			teetest.RequireRefusal(t, err, tc.want)
			require.Equal(t, snpCol, dec)
		})
	}

	for _, col := range []tee.Collateral{
		{Kind: "sgx"},
		{Kind: tee.KindSim, TDX: tee.TDXCollateral{PCKCRL: []byte{1}}},
		{Kind: tee.KindTDX, SNP: tee.SNPCollateral{CRL: []byte{1}}},
		{Kind: tee.KindSEVSNP, SNP: tee.SNPCollateral{CRL: make([]byte, tee.MaxCollateralFieldSize+1)}},
	} {
		_, err := col.MarshalBinary()
		require.Error(t, err)
	}
}

func FuzzEvidenceUnmarshal(f *testing.F) {
	tdxEv, _ := teetest.RecordedTDX(f)
	snpEv, _ := teetest.RecordedSNP(f)
	for _, ev := range []tee.Evidence{tdxEv, snpEv, {Kind: tee.KindSim, Quote: make([]byte, 194)}} {
		raw, err := ev.MarshalBinary()
		require.NoError(f, err)
		f.Add(raw)
	}
	f.Add([]byte{1, 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev tee.Evidence
		if err := ev.UnmarshalBinary(data); err != nil {
			if tee.Code(err) == tee.CodeUnknown {
				t.Fatalf("uncoded error: %v", err)
			}
			return
		}
		again, err := ev.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("not canonical: %v", err)
		}
	})
}

func FuzzCollateralUnmarshal(f *testing.F) {
	_, tdxCol := teetest.RecordedTDX(f)
	_, snpCol := teetest.RecordedSNP(f)
	for _, col := range []tee.Collateral{{}, {Kind: tee.KindSim}, tdxCol, snpCol} {
		raw, err := col.MarshalBinary()
		require.NoError(f, err)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var col tee.Collateral
		if err := col.UnmarshalBinary(data); err != nil {
			if tee.Code(err) == tee.CodeUnknown {
				t.Fatalf("uncoded error: %v", err)
			}
			return
		}
		again, err := col.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("not canonical: %v", err)
		}
	})
}

// FuzzVerify decodes arbitrary evidence and collateral and verifies them under a permissive
// policy: Verify must never panic, and every refusal must carry a code and an explanation.
func FuzzVerify(f *testing.F) {
	tdxEv, tdxCol := teetest.RecordedTDX(f)
	snpEv, snpCol := teetest.RecordedSNP(f)
	for _, p := range []struct {
		ev  tee.Evidence
		col tee.Collateral
	}{{tdxEv, tdxCol}, {snpEv, snpCol}} {
		ev, err := p.ev.MarshalBinary()
		require.NoError(f, err)
		col, err := p.col.MarshalBinary()
		require.NoError(f, err)
		f.Add(ev, col)
	}
	pol := tee.Policy{AllowSim: true, AllowDebug: true, SNPAllowMissingCRL: true, SNPAllowMigrationAgent: true, SNPMaxVMPL: 3}
	f.Fuzz(func(t *testing.T, evBytes, colBytes []byte) {
		var ev tee.Evidence
		var col tee.Collateral
		if ev.UnmarshalBinary(evBytes) != nil || col.UnmarshalBinary(colBytes) != nil {
			return
		}
		_, err := tee.Verify(ev, col, pol, teetest.RecordedTDXTime)
		var r *tee.Refusal
		if err != nil && (!errors.As(err, &r) || tee.Code(err) == tee.CodeUnknown) {
			t.Fatalf("unexplained refusal: %v", err)
		}
	})
}

func TestCodes(t *testing.T) {
	sentinels := []error{
		tee.ErrMalformed, tee.ErrUnsupportedKind, tee.ErrSimNotAllowed, tee.ErrUnknownPlatformKey,
		tee.ErrSignature, tee.ErrCertChain, tee.ErrEvidenceExpired, tee.ErrCollateralExpired,
		tee.ErrCollateralMissing, tee.ErrCollateralMismatch, tee.ErrRevoked, tee.ErrTCBUnknown,
		tee.ErrTCBOutOfDate, tee.ErrDebugNotAllowed, tee.ErrPolicyViolation, tee.ErrReportDataMismatch,
		tee.ErrInvalidPolicy, tee.ErrNoSealingKey, tee.ErrDevice,
	}
	seen := map[uint32]bool{}
	for i, s := range sentinels {
		c := tee.Code(s)
		require.Equal(t, uint32(i+1), c, "codes are stable: %v", s)
		require.False(t, seen[c])
		seen[c] = true
		require.Equal(t, c, tee.Code(fmt.Errorf("wrapped: %w", s)))
	}
	require.Equal(t, tee.CodeOK, tee.Code(nil))
	require.Equal(t, tee.CodeUnknown, tee.Code(errors.New("other")))

	r := &tee.Refusal{Err: tee.ErrSignature, Check: "tdx/quote-signature", Detail: "bad", Remedy: "retry"}
	require.Equal(t, "tee: tdx/quote-signature: bad: signature does not verify; to fix: retry", r.Error())
	require.ErrorIs(t, r, tee.ErrSignature)
}

func TestKindsAndMeasurements(t *testing.T) {
	for _, k := range tee.Kinds() {
		got, err := tee.ParseKind(k.String())
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	_, err := tee.ParseKind("sgx")
	teetest.RequireRefusal(t, err, tee.ErrUnsupportedKind)

	m := bytes.Repeat([]byte{0xab}, tee.TDXMeasurementSize)
	s, err := tee.FormatMeasurement(tee.KindTDX, m)
	require.NoError(t, err)
	require.Equal(t, "tdx:", s[:4])
	parts, err := tee.MeasurementParts(tee.KindTDX, m)
	require.NoError(t, err)
	require.Len(t, parts, 5)
	require.Equal(t, "rtmr3", parts[4].Name)

	for _, in := range []string{"", "tdx", "tdx:zz", "tdx:ABAB", "sgx:00", "sim:00", "sev-snp:" + fmt.Sprintf("%096x", 0)[:94]} {
		_, _, err := tee.ParseMeasurement(in)
		require.Error(t, err, in)
		require.NotEqual(t, tee.CodeUnknown, tee.Code(err), in)
	}
	_, err = tee.FormatMeasurement(tee.KindSEVSNP, make([]byte, 47))
	teetest.RequireRefusal(t, err, tee.ErrMalformed)
	require.Zero(t, tee.MeasurementSize("sgx"))
}

func TestConfidenceMapping(t *testing.T) {
	want := map[tee.TCBStatus]uint8{
		tee.TCBUpToDate: 1, tee.TCBSimulated: 1, tee.TCBSWHardeningNeeded: 2, tee.TCBConfigurationNeeded: 3,
		tee.TCBConfigurationAndSWHardeningNeeded: 3, tee.TCBOutOfDate: 4, tee.TCBOutOfDateConfigurationNeeded: 5,
	}
	for s, level := range want {
		got, ok := s.Confidence()
		require.True(t, ok, s)
		require.Equal(t, level, got, s)
	}
	for _, s := range []tee.TCBStatus{tee.TCBRevoked, "", "Unknown"} {
		_, ok := s.Confidence()
		require.False(t, ok, s)
	}
}

func TestPolicyValidate(t *testing.T) {
	require.NoError(t, tee.Policy{}.Validate())
	for _, p := range []tee.Policy{
		{MaxConfidence: 6},
		{SimPlatformKeys: []ed25519.PublicKey{make([]byte, 31)}},
		{TDXAllowedMRSEAMs: [][]byte{make([]byte, 32)}},
		{SNPMaxVMPL: 4},
	} {
		teetest.RequireRefusal(t, p.Validate(), tee.ErrInvalidPolicy)
	}
}
