package contracts

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"

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
// publishes the contract's events, records its keys for an instantiation or a rekey, and turns
// its outbound messages and transfers into requests for their receivers (or bounces).
func (m *Module) HandleReport(ctx *module.Context, msg *mq.Message) error {
	if msg.GetOrigin().Type() != mq.KindCluster {
		return errcode.Wrapf(ErrBadReport, "%s may not report: only cluster origins do", msg.GetOrigin().Label())
	}
	cluster := msg.GetOrigin().ID()
	var rep Report
	if err := module.StrictUnmarshal(msg.GetPayload(), &rep); err != nil {
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
	if len(rep.GetEvents()) > MaxReportEvents || len(rep.GetOutbound()) > MaxReportOutbound {
		return errcode.Wrapf(ErrBadReport, "%d events and %d outbound, at most %d and %d", len(rep.GetEvents()), len(rep.GetOutbound()), MaxReportEvents, MaxReportOutbound)
	}
	req := p.GetRequest()
	contract := req.Target()
	if !bytes.Equal(rep.GetContract(), contract) {
		return errcode.Wrapf(ErrBadReport, "reports contract %X, request %d is for %X", rep.GetContract(), rep.GetSeq(), contract)
	}
	runsCode := req.GetRekey() == nil
	if (!runsCode || rep.GetOutcome() != "ok") && (len(rep.GetEvents()) > 0 || len(rep.GetOutbound()) > 0) {
		return errcode.Wrapf(ErrBadReport, "only a successful call publishes events or sends")
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
	case *Request_Message:
		ctx.Emit("contract_message_delivered", module.Attr("from", hex.EncodeToString(k.Message.GetFrom())), module.Attr("to", hex.EncodeToString(contract)),
			module.Attr("number", strconv.FormatUint(k.Message.GetNumber(), 10)), module.Attr("outcome", rep.GetOutcome()))
	case *Request_Deposit:
		ctx.Emit("contract_deposit_done", module.Attr("contract", hex.EncodeToString(contract)), module.Attr("outcome", rep.GetOutcome()))
	}
	putContract(ctx, ct)
	ctx.Delete(pendingKey(cluster, rep.GetSeq()))
	q.Done++
	ctx.Set(queueKey(cluster), module.Marshal(q))
	for _, e := range rep.GetEvents() {
		from := contract
		if len(e.GetContract()) > 0 {
			from = e.GetContract() // a contract the reported one called
		}
		ctx.Emit("contract_event", module.Attr("contract", hex.EncodeToString(from)), module.Attr("topic", e.GetTopic()),
			module.Attr("data", hex.EncodeToString(e.GetData())))
	}
	if rep.GetOutcome() != "ok" {
		return m.failed(ctx, req, rep.GetOutcome())
	}
	for _, out := range rep.GetOutbound() {
		if err := m.send(ctx, cluster, out); err != nil {
			return err
		}
	}
	return nil
}

// failed handles what a failed call owes: a message that failed bounces to its sender; a
// refused deposit goes back.
func (m *Module) failed(ctx *module.Context, req *Request, outcome string) error {
	switch k := req.GetKind().(type) {
	case *Request_Message:
		return m.bounce(ctx, &BounceRequest{Contract: k.Message.GetFrom(), Kind: "message", To: k.Message.GetTo(), Number: k.Message.GetNumber(),
			Reason: "the receiver failed: " + outcome})
	case *Request_Deposit:
		d := k.Deposit
		amt, err := amount.Parse(d.GetAmount())
		if err != nil {
			return errcode.Wrapf(ErrBadReport, "deposit amount: %v", err)
		}
		if err := accounts.Transfer(ctx, keys.AccountID(d.GetContract()), keys.AccountID(d.GetFrom()), amt); err != nil {
			ctx.Emit("contract_deposit_refund_failed", module.Attr("contract", hex.EncodeToString(d.GetContract())), module.Attr("reason", err.Error()))
		}
	}
	return nil
}

// send turns one outbound effect of a cluster's call into a request for its receiver, or a
// bounce when it cannot be delivered. The effect must come from a contract of the reporting
// cluster and, for a message, carry the sender's next number.
func (m *Module) send(ctx *module.Context, cluster []byte, out *Outbound) error {
	from, err := GetContract(ctx, out.GetFrom())
	if err != nil || !bytes.Equal(from.GetCluster(), cluster) {
		return errcode.Wrapf(ErrBadReport, "outbound from %X, not a contract of cluster %s", out.GetFrom(), registry.ClusterLabel(cluster))
	}
	switch k := out.GetKind().(type) {
	case *Outbound_Message:
		msg := k.Message
		if msg.GetNumber() != from.GetMessagesSent() {
			return errcode.Wrapf(ErrBadReport, "message number %d from %X, its next is %d", msg.GetNumber(), from.GetId(), from.GetMessagesSent())
		}
		from.MessagesSent++
		putContract(ctx, from)
		ctx.Emit("contract_message_sent", module.Attr("from", hex.EncodeToString(from.GetId())), module.Attr("to", hex.EncodeToString(msg.GetTo())),
			module.Attr("number", strconv.FormatUint(msg.GetNumber(), 10)))
		bounce := func(reason string) error {
			return m.bounce(ctx, &BounceRequest{Contract: from.GetId(), Kind: "message", To: msg.GetTo(), Number: msg.GetNumber(), Reason: reason})
		}
		to, err := GetContract(ctx, msg.GetTo())
		switch {
		case err != nil || to.GetStatus() != Contract_STATUS_ACTIVE:
			return bounce("no active contract at the address")
		case msg.GetKeyGeneration() != to.GetKeys()[len(to.GetKeys())-1].GetClusterGeneration() || checkPayload(msg.GetPayload(), true) != nil:
			return bounce("not sealed to the receiver's newest key")
		}
		esc, err := prepay(ctx, GetParams(ctx), keys.AccountID(from.GetId()), msg.GetGasLimit(), len(msg.GetPayload()))
		if err != nil {
			return bounce("the sender cannot pay the gas: " + err.Error())
		}
		return m.request(ctx, to.GetCluster(), esc, &Request{Kind: &Request_Message{Message: &MessageRequest{
			From: from.GetId(), To: to.GetId(), Number: msg.GetNumber(), Payload: msg.GetPayload(), KeyGeneration: msg.GetKeyGeneration(), GasLimit: msg.GetGasLimit()}}})
	case *Outbound_Transfer:
		t := k.Transfer
		amt, err := amount.Parse(t.GetAmount())
		if err != nil || amt.IsZero() || len(t.GetTo()) != 32 {
			return errcode.Wrapf(ErrBadReport, "transfer of %q to %X", t.GetAmount(), t.GetTo())
		}
		if err := accounts.Transfer(ctx, keys.AccountID(from.GetId()), keys.AccountID(t.GetTo()), amt); err != nil {
			return m.bounce(ctx, &BounceRequest{Contract: from.GetId(), Kind: "transfer", To: t.GetTo(), Amount: amt.String(), Reason: err.Error()})
		}
		return nil
	}
	return errcode.Wrapf(ErrBadReport, "outbound of no kind")
}

// bounce tells a contract that a message or transfer failed, if its account can pay the bounce's
// gas; otherwise the bounce is dropped (and said so in an event).
func (m *Module) bounce(ctx *module.Context, b *BounceRequest) error {
	ct, err := GetContract(ctx, b.GetContract())
	if err != nil {
		return err
	}
	attrs := []abci.EventAttribute{module.Attr("contract", hex.EncodeToString(ct.GetId())), module.Attr("kind", b.GetKind()),
		module.Attr("to", hex.EncodeToString(b.GetTo())), module.Attr("number", strconv.FormatUint(b.GetNumber(), 10)), module.Attr("reason", b.GetReason())}
	p := GetParams(ctx)
	esc, err := prepay(ctx, p, keys.AccountID(ct.GetId()), p.GetBounceGas(), 0)
	if err != nil {
		ctx.Emit("contract_bounce_dropped", attrs...)
		return nil
	}
	ctx.Emit("contract_bounce", attrs...)
	b.GasLimit = p.GetBounceGas()
	return m.request(ctx, ct.GetCluster(), esc, &Request{Kind: &Request_Bounce{Bounce: b}})
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
