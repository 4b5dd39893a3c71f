package app

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phala-go/phala/chain/errcode"
)

// metrics are counts only: the state machine reads no clock, so durations come from CometBFT's
// own metrics (block interval, consensus steps).
type metrics struct {
	height  prometheus.Gauge
	txs     *prometheus.CounterVec
	checked *prometheus.CounterVec
	blockTx prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		height: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "phala", Subsystem: "app", Name: "height", Help: "Height of the last finalized block.",
		}),
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "phala", Subsystem: "app", Name: "txs_total", Help: "Transactions executed in blocks, by result.",
		}, []string{"codespace", "code"}),
		checked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "phala", Subsystem: "app", Name: "checked_txs_total", Help: "Transactions checked for the mempool, by result.",
		}, []string{"codespace", "code"}),
		blockTx: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "phala", Subsystem: "app", Name: "block_txs", Help: "Transactions per block.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.height, m.txs, m.checked, m.blockTx)
	}
	return m
}

func resultLabels(err error) (string, string) {
	if err == nil {
		return "", "0"
	}
	space, code, _ := errcode.ABCI(err)
	return space, strconv.FormatUint(uint64(code), 10)
}

func (m *metrics) deliverTx(err error) { m.txs.WithLabelValues(resultLabels(err)).Inc() }
func (m *metrics) checkTx(err error)   { m.checked.WithLabelValues(resultLabels(err)).Inc() }

func (m *metrics) block(height int64, txs int) {
	m.height.Set(float64(height))
	m.blockTx.Observe(float64(txs))
}
