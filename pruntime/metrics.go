package pruntime

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	verified  prometheus.Gauge
	lag       prometheus.Gauge
	blocks    prometheus.Counter
	integrity *prometheus.CounterVec
	keys      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		verified: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "phala", Subsystem: "pruntime", Name: "verified_height",
			Help: "Last block whose state the runtime verified and committed."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "phala", Subsystem: "pruntime", Name: "lag_blocks",
			Help: "Blocks between the chain tip (as the host reports it) and the verified height."}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "phala", Subsystem: "pruntime", Name: "blocks_total",
			Help: "Blocks verified and committed (rate() gives blocks/s)."}),
		integrity: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "phala", Subsystem: "pruntime", Name: "integrity_failures_total",
			Help: "Sealed data found tampered, mixed or rolled back, by kind."}, []string{"kind"}),
		keys: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "phala", Subsystem: "pruntime", Name: "key_events_total",
			Help: "Key management events: shares received and tasks answered, and refused key messages by reason."}, []string{"event"}),
	}
	if reg != nil {
		reg.MustRegister(m.verified, m.lag, m.blocks, m.integrity, m.keys)
	}
	return m
}

func (m *metrics) observe(verified, chain int64) {
	m.verified.Set(float64(verified))
	if chain > verified {
		m.lag.Set(float64(chain - verified))
	} else {
		m.lag.Set(0)
	}
}
