package contracts

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

// Outcomes a report may name.
var outcomes = map[string]bool{
	"ok": true, "decrypt": true, "out_of_gas": true, "trap": true, "contract_error": true, "limit": true, "abi": true, "invalid": true,
}

// HandleReport settles the cluster's answer to its oldest pending request: refunds unused gas,
// publishes the contract's events and, for an instantiation or a rekey, its keys.
func HandleReport(ctx *module.Context, m *mq.Message) error {
	if m.GetOrigin().Type() != mq.KindCluster {
		return errcode.Wrapf(ErrBadReport, "%s may not report: only cluster origins do", m.GetOrigin().Label())
	}
	cluster := m.GetOrigin().ID()
	var rep Report
	if err := module.StrictUnmarshal(m.GetPayload(), &rep); err != nil {
		return errcode.Wrapf(ErrBadReport, "%v", err)
	}
	q := GetQueue(ctx, cluster)
	b := ctx.Get(pendingKey(cluster, q.GetDone()))
	if b == nil || rep.GetSeq() != q.GetDone() {
		return errcode.Wrapf(ErrBadReport, "reports request %d, the oldest pending one of cluster %s is %d of %d",
			rep.GetSeq(), registry.ClusterLabel(cluster), q.GetDone(), q.GetNext())
	}
	var p Pending
	mustDecode(b, &p)
	if !outcomes[rep.GetOutcome()] {
		return errcode.Wrapf(ErrBadReport, "outcome %q", rep.GetOutcome())
	}
	if len(rep.GetEvents()) > MaxReportEvents {
		return errcode.Wrapf(ErrBadReport, "%d events, at most %d", len(rep.GetEvents()), MaxReportEvents)
	}
	req := p.GetRequest()
	var contract []byte
	switch k := req.GetKind().(type) {
	case *Request_Instantiate:
		contract = k.Instantiate.GetContract()
	case *Request_Command:
		contract = k.Command.GetContract()
	case *Request_Rekey:
		contract = k.Rekey.GetContract()
	}
	if !bytes.Equal(rep.GetContract(), contract) {
		return errcode.Wrapf(ErrBadReport, "reports contract %X, request %d is for %X", rep.GetContract(), rep.GetSeq(), contract)
	}
	if req.GetCommand() == nil && len(rep.GetEvents()) > 0 {
		return errcode.Wrapf(ErrBadReport, "only commands publish events")
	}
	for _, e := range rep.GetEvents() {
		if !strings.HasPrefix(e.GetTopic(), PublicEventPrefix) {
			return errcode.Wrapf(ErrBadReport, "event %q is not public", e.GetTopic())
		}
	}
	ct, err := GetContract(ctx, contract)
	if err != nil {
		return err
	}
	if err := settle(ctx, p.GetEscrow(), rep.GetGasUsed()); err != nil {
		return err
	}
	switch k := req.GetKind().(type) {
	case *Request_Instantiate:
		if rep.GetOutcome() == "ok" {
			if err := checkKey(rep.GetKey(), k.Instantiate.GetKeyGeneration()); err != nil {
				return err
			}
			ct.Status, ct.Keys = Contract_STATUS_ACTIVE, []*ContractKey{withHeight(rep.GetKey(), ctx.Height)}
		} else {
			ct.Status, ct.Error = Contract_STATUS_FAILED, rep.GetOutcome()
		}
		ctx.Emit("contract_ready", module.Attr("contract", hex.EncodeToString(contract)), module.Attr("outcome", rep.GetOutcome()))
	case *Request_Command:
		ctx.Emit("contract_executed", module.Attr("contract", hex.EncodeToString(contract)),
			module.Attr("command", strconv.FormatUint(k.Command.GetCommand(), 10)), module.Attr("outcome", rep.GetOutcome()),
			module.Attr("gas_used", strconv.FormatUint(rep.GetGasUsed(), 10)))
	case *Request_Rekey:
		if rep.GetOutcome() != "ok" {
			return errcode.Wrapf(ErrBadReport, "a rekey cannot fail")
		}
		if err := checkKey(rep.GetKey(), k.Rekey.GetClusterGeneration()); err != nil {
			return err
		}
		ct.Keys = append(ct.Keys, withHeight(rep.GetKey(), ctx.Height))
		ctx.Emit("contract_rekeyed", module.Attr("contract", hex.EncodeToString(contract)),
			module.Attr("generation", strconv.FormatUint(uint64(k.Rekey.GetClusterGeneration()), 10)))
	}
	for _, e := range rep.GetEvents() {
		from := contract
		if len(e.GetContract()) > 0 {
			from = e.GetContract() // a contract the reported one called
		}
		ctx.Emit("contract_event", module.Attr("contract", hex.EncodeToString(from)), module.Attr("topic", e.GetTopic()),
			module.Attr("data", hex.EncodeToString(e.GetData())))
	}
	putContract(ctx, ct)
	ctx.Delete(pendingKey(cluster, rep.GetSeq()))
	q.Done++
	ctx.Set(queueKey(cluster), module.Marshal(q))
	return nil
}

func withHeight(k *ContractKey, h int64) *ContractKey {
	k.Height = h
	return k
}

// checkKey checks a reported contract key: the generation the request named, one X25519 and one
// X-Wing key.
func checkKey(k *ContractKey, generation uint32) error {
	if k == nil || k.GetClusterGeneration() != generation {
		return errcode.Wrapf(ErrBadReport, "the request wants the contract's keys of cluster generation %d", generation)
	}
	if err := registry.ValidateEncryptionKeys(k.GetEncryptionKeys()); err != nil {
		return errcode.Wrapf(ErrBadReport, "contract key: %v", err)
	}
	return nil
}

// settle refunds the unused part of a request's prepaid gas to the payer and pays the used part
// to the fee collector.
func settle(ctx *module.Context, e *Escrow, used uint64) error {
	if e == nil {
		if used != 0 {
			return errcode.Wrapf(ErrBadReport, "a rekey uses no gas")
		}
		return nil
	}
	if used > e.GetGasLimit() {
		return errcode.Wrapf(ErrBadReport, "used %d gas of a %d limit", used, e.GetGasLimit())
	}
	price, err := amount.Parse(e.GetGasPrice())
	if err != nil {
		return errcode.Wrapf(ErrBadReport, "escrow price: %v", err)
	}
	spent, err := price.MulUint64(used)
	if err != nil {
		return err
	}
	refund, err := price.MulUint64(e.GetGasLimit() - used)
	if err != nil {
		return err
	}
	if !spent.IsZero() {
		if err := accounts.Transfer(ctx, escrowAccount, accounts.FeeCollector, spent); err != nil {
			return err
		}
	}
	if !refund.IsZero() {
		if err := accounts.Transfer(ctx, escrowAccount, keys.AccountID(e.GetPayer()), refund); err != nil {
			return err
		}
	}
	return nil
}

// HandleClusterKey follows the gatekeepers' answers: when a cluster moves to a new key
// generation, every contract of the cluster gets a rekey request, so that commands are sealed to
// keys the removed worker does not hold. It runs after the registry accepted the answer.
func (m *Module) HandleClusterKey(ctx *module.Context, msg *mq.Message) error {
	_, out, err := registry.DecodeGatekeeperMessage(msg.GetPayload())
	if err != nil {
		return err
	}
	k := out.GetClusterKey()
	if k == nil || k.GetGeneration() < 2 {
		return nil
	}
	for _, id := range clusterContracts(ctx, k.GetCluster()) {
		ct, err := GetContract(ctx, id)
		if err != nil {
			return err
		}
		if ct.GetStatus() == Contract_STATUS_FAILED {
			continue
		}
		if err := m.request(ctx, k.GetCluster(), nil, &Request{Kind: &Request_Rekey{Rekey: &RekeyRequest{Contract: id, ClusterGeneration: k.GetGeneration()}}}); err != nil {
			return err
		}
	}
	return nil
}

// ClusterSigningKey is the message queue's key resolver for cluster origins: a cluster reports
// on TopicReport only, signed by its newest published key (registry.ClusterSigningKey).
func ClusterSigningKey(r store.Reader, m *mq.Message) (keys.PublicKey, error) {
	if m.GetTopic() != TopicReport {
		return keys.PublicKey{}, errcode.Wrapf(ErrBadReport, "a cluster origin only sends on %s, not %s", TopicReport, m.GetTopic())
	}
	return registry.ClusterSigningKey(r, m)
}
