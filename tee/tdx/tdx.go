package tdx

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/client"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"

	"github.com/phala-go/phala/tee"
)

// Guest is a TDX guest. It is safe for concurrent use.
type Guest struct {
	mu     sync.Mutex
	source any // client.QuoteProvider or client.Device
	closer func() error
}

var _ tee.Guest = (*Guest)(nil)

// Open returns a guest that uses configfs-tsm when the kernel offers it for TDX, and otherwise
// /dev/tdx_guest. Close releases the device.
func Open() (*Guest, error) {
	if qp, err := client.GetQuoteProvider(); err == nil && qp.IsSupported() == nil {
		return &Guest{source: qp}, nil
	}
	dev, err := client.OpenDevice()
	if err != nil {
		return nil, fmt.Errorf("tdx: neither configfs-tsm nor /dev/tdx_guest is usable (is this a TD with the tdx_guest driver loaded?): %v: %w", err, tee.ErrDevice)
	}
	return &Guest{source: dev, closer: dev.Close}, nil
}

// New returns a guest over a quote source: a go-tdx-guest client.QuoteProvider or client.Device.
// Tests pass the fakes of go-tdx-guest/testing or tee/teetest.
func New(source any) (*Guest, error) {
	switch source.(type) {
	case client.QuoteProvider, client.Device:
		return &Guest{source: source}, nil
	}
	return nil, fmt.Errorf("tdx: quote source %T is neither a client.QuoteProvider nor a client.Device", source)
}

// Close releases the device opened by Open.
func (g *Guest) Close() error {
	if g.closer == nil {
		return nil
	}
	return g.closer()
}

// Kind returns tee.KindTDX.
func (g *Guest) Kind() tee.Kind { return tee.KindTDX }

// Evidence returns a fresh quote binding rd, re-encoded without trailing bytes.
func (g *Guest) Evidence(rd tee.ReportData) (tee.Evidence, error) {
	q, err := g.quote(rd)
	if err != nil {
		return tee.Evidence{}, err
	}
	q.ExtraBytes = nil
	raw, err := abi.QuoteToAbiBytes(q)
	if err != nil {
		return tee.Evidence{}, fmt.Errorf("tdx: re-encode quote: %v: %w", err, tee.ErrDevice)
	}
	return tee.Evidence{Kind: tee.KindTDX, Quote: raw}, nil
}

// Measurement returns MRTD || RTMR0 || RTMR1 || RTMR2 || RTMR3 from a fresh quote. RTMRs can be
// extended at run time, so it is read every time.
func (g *Guest) Measurement() ([]byte, error) {
	q, err := g.quote(tee.ReportData{})
	if err != nil {
		return nil, err
	}
	body := q.GetTdQuoteBody()
	m := append([]byte(nil), body.GetMrTd()...)
	for _, r := range body.GetRtmrs() {
		m = append(m, r...)
	}
	return m, nil
}

// SealingKey always fails: TDX has no sealing key. pRuntime gets one from the gatekeepers after
// attestation (docs/tee.md, "Sealing").
func (g *Guest) SealingKey() ([]byte, error) {
	return nil, fmt.Errorf("tdx: the TDX module derives no sealing key for a TD; obtain the sealing key from the gatekeepers after attestation: %w", tee.ErrNoSealingKey)
}

func (g *Guest) quote(rd tee.ReportData) (*tdxpb.QuoteV4, error) {
	g.mu.Lock()
	raw, err := client.GetRawQuote(g.source, rd)
	g.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("tdx: get quote: %v: %w", err, tee.ErrDevice)
	}
	anyQuote, err := abi.QuoteToProto(raw)
	if err != nil {
		return nil, fmt.Errorf("tdx: the device returned an unparsable quote: %v: %w", err, tee.ErrDevice)
	}
	q, ok := anyQuote.(*tdxpb.QuoteV4)
	if !ok {
		return nil, fmt.Errorf("tdx: the device returned a %T, want a v4 quote: %w", anyQuote, tee.ErrDevice)
	}
	if !bytes.Equal(q.GetTdQuoteBody().GetReportData(), rd[:]) {
		return nil, fmt.Errorf("tdx: the device returned a quote for other report data: %w", tee.ErrDevice)
	}
	return q, nil
}
