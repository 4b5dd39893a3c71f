package devnet

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/pruntime/api"
)

// record is what the bootstrap and the examples' deployment did, kept in the home: the chain
// tells what is done, the record tells apart what was never done from what governance undid
// since (a gatekeeper unregistered, a worker removed from its cluster), which a resumed
// network leaves alone.
type record struct {
	// Gatekeepers and ClusterWorkers are identity keys (hex) the bootstrap made gatekeepers
	// and put in a cluster.
	Gatekeepers    []string `json:"gatekeepers"`
	ClusterWorkers []string `json:"cluster_workers"`
	// Token is the id (hex) of the token example once it was deployed and ACTIVE.
	Token string `json:"token,omitempty"`
}

func loadRecord(path string) (*record, error) {
	var r record
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &r, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to bootstrap again what the chain lacks)", path, err)
	}
	return &r, nil
}

func (r *record) save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func note(list *[]string, id []byte) {
	if h := hex.EncodeToString(id); !slices.Contains(*list, h) {
		*list = append(*list, h)
	}
}

func noted(list []string, id []byte) bool { return slices.Contains(list, hex.EncodeToString(id)) }

func containsKey(set [][]byte, k []byte) bool {
	return slices.ContainsFunc(set, func(x []byte) bool { return bytes.Equal(x, k) })
}

// bootstrap sets up key management once all runtimes are registered: the gatekeeper runtimes
// join the gatekeeper set (the first one creates the master key, the others receive it), then
// the worker runtimes form clusters (see formClusters) and receive their keys. It does only
// what the chain and the record show undone, and waits until every runtime holds its keys.
func (n *Network) bootstrap(ctx context.Context, rec *record, recordPath string, clusters int) error {
	if err := n.registerGatekeepers(ctx, rec); err != nil {
		return err
	}
	if err := rec.save(recordPath); err != nil {
		return err
	}
	if err := n.waitMasterKey(ctx); err != nil {
		return err
	}
	members, err := n.formClusters(ctx, rec, clusters)
	if err != nil {
		return err
	}
	if err := rec.save(recordPath); err != nil {
		return err
	}
	return n.waitClusterKeys(ctx, members)
}

func (n *Network) registerGatekeepers(ctx context.Context, rec *record) error {
	var gks registry.Gatekeepers
	if _, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryGatekeepers, nil, &gks); err != nil {
		return err
	}
	var msgs []proto.Message
	var added []*Runtime
	for _, rt := range n.Runtimes {
		switch {
		case !rt.Gatekeeper:
		case containsKey(gks.GetWorkers(), rt.Identity):
			note(&rec.Gatekeepers, rt.Identity)
		case noted(rec.Gatekeepers, rt.Identity):
			n.log.Warn("runtime is no longer a gatekeeper (governance removed it): leaving it so", "runtime", rt.Name, "identity", hex.EncodeToString(rt.Identity))
		default:
			msgs = append(msgs, &registry.MsgRegisterGatekeeper{Worker: rt.Identity})
			added = append(added, rt)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := n.govern(ctx, "phala dev: register the gatekeepers", msgs...); err != nil {
		return fmt.Errorf("register the gatekeepers: %w", err)
	}
	for _, rt := range added {
		note(&rec.Gatekeepers, rt.Identity)
	}
	return nil
}

// waitMasterKey waits for a published master key and for every gatekeeper runtime in the set
// to hold its newest generation.
func (n *Network) waitMasterKey(ctx context.Context) error {
	ctx, cancel := stage(ctx)
	defer cancel()
	var master registry.MasterKeys
	err := n.await(ctx, "the master key to be published", n.Runtimes[0].Log, func(ctx context.Context) (bool, error) {
		_, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryMasterKeys, nil, &master)
		return err == nil && len(master.GetGenerations()) > 0, err
	})
	if err != nil {
		return err
	}
	gen := master.GetGenerations()[len(master.GetGenerations())-1].GetGeneration()
	var gks registry.Gatekeepers
	if _, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryGatekeepers, nil, &gks); err != nil {
		return err
	}
	for _, rt := range n.Runtimes {
		if !rt.Gatekeeper || !containsKey(gks.GetWorkers(), rt.Identity) {
			continue
		}
		err := n.await(ctx, fmt.Sprintf("gatekeeper %s to hold master key generation %d", rt.Name, gen), rt.Log, func(ctx context.Context) (bool, error) {
			info, err := rt.info(ctx)
			return err == nil && info.GetMasterGeneration() >= gen, err
		})
		if err != nil {
			return err
		}
	}
	n.Gatekeepers, n.MasterGeneration = gks.GetWorkers(), gen
	return nil
}

// clusterOf returns the cluster a worker is in, or nil.
func (n *Network) clusterOf(ctx context.Context, worker []byte) (*registry.Cluster, error) {
	var c registry.Cluster
	_, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryClusterOf, worker, &c)
	if errors.Is(err, registry.ErrNotMember) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// formClusters puts the worker runtimes that never were in a cluster into clusters: the
// workers, in name order, take slots 1..clusters in turn, and a worker joins the cluster the
// others of its slot are in, or a new one with the loose workers of its slot when none is. It
// returns the worker runtimes in a cluster.
func (n *Network) formClusters(ctx context.Context, rec *record, clusters int) ([]*Runtime, error) {
	clusters = max(clusters, 1)
	slotCluster := make([][]byte, clusters)
	loose := make([][]*Runtime, clusters)
	var members []*Runtime
	i := 0
	for _, rt := range n.Runtimes {
		if rt.Gatekeeper {
			continue
		}
		slot := i % clusters
		i++
		c, err := n.clusterOf(ctx, rt.Identity)
		switch {
		case err != nil:
			return nil, err
		case c != nil:
			note(&rec.ClusterWorkers, rt.Identity)
			members = append(members, rt)
			if slotCluster[slot] == nil {
				slotCluster[slot] = c.GetId()
			}
		case noted(rec.ClusterWorkers, rt.Identity):
			n.log.Warn("worker is no longer in a cluster (governance removed it): leaving it so", "runtime", rt.Name, "identity", hex.EncodeToString(rt.Identity))
		default:
			loose[slot] = append(loose[slot], rt)
		}
	}
	var msgs []proto.Message
	var added []*Runtime
	for slot, rts := range loose {
		if len(rts) == 0 {
			continue
		}
		added = append(added, rts...)
		if slotCluster[slot] == nil {
			ids := make([][]byte, len(rts))
			for i, rt := range rts {
				ids[i] = rt.Identity
			}
			msgs = append(msgs, &registry.MsgCreateCluster{Workers: ids})
			continue
		}
		for _, rt := range rts {
			msgs = append(msgs, &registry.MsgAddClusterWorker{Cluster: slotCluster[slot], Worker: rt.Identity})
		}
	}
	if len(msgs) == 0 {
		return members, nil
	}
	if err := n.govern(ctx, "phala dev: clusters of the workers", msgs...); err != nil {
		return nil, fmt.Errorf("put the workers in clusters: %w", err)
	}
	for _, rt := range added {
		note(&rec.ClusterWorkers, rt.Identity)
	}
	return append(members, added...), nil
}

// waitClusterKeys waits until every member holds its cluster's current key generation and the
// chain shows it deployed.
func (n *Network) waitClusterKeys(ctx context.Context, members []*Runtime) error {
	ctx, cancel := stage(ctx)
	defer cancel()
	for _, rt := range members {
		err := n.await(ctx, "worker "+rt.Name+" to hold and deploy its cluster's key", rt.Log, func(ctx context.Context) (bool, error) {
			c, err := n.clusterOf(ctx, rt.Identity)
			if err != nil || c == nil {
				return false, err
			}
			info, err := rt.info(ctx)
			if err != nil {
				return false, err
			}
			held := slices.ContainsFunc(info.GetClusters(), func(k *api.ClusterKeys) bool {
				return bytes.Equal(k.GetCluster(), c.GetId()) && slices.Contains(k.GetGenerations(), c.GetGeneration())
			})
			deployed := slices.ContainsFunc(c.GetDeployed(), func(d *registry.Deployment) bool {
				return bytes.Equal(d.GetWorker(), rt.Identity) && d.GetGeneration() >= c.GetGeneration()
			})
			return held && deployed, nil
		})
		if err != nil {
			return err
		}
	}
	// The clusters as they stand once every member deployed.
	n.Clusters = nil
	for _, rt := range members {
		c, err := n.clusterOf(ctx, rt.Identity)
		if err != nil {
			return err
		}
		if c != nil && !slices.ContainsFunc(n.Clusters, func(x *registry.Cluster) bool { return bytes.Equal(x.GetId(), c.GetId()) }) {
			n.Clusters = append(n.Clusters, c)
		}
	}
	slices.SortFunc(n.Clusters, func(a, b *registry.Cluster) int { return bytes.Compare(a.GetId(), b.GetId()) })
	return nil
}

// recordPath is where a home keeps the bootstrap record.
func recordPath(home string) string { return filepath.Join(home, runtimesDir, recordFile) }
