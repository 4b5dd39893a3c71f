package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/modules/registry"
)

func newGatekeeperCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "gatekeeper", Short: "Gatekeepers and the master key (governed)"}
	membership := func(use, short string, build func(key []byte) proto.Message) *cobra.Command {
		var f governedFlags
		c := &cobra.Command{
			Use:   use + " IDENTITY_KEY",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				key, err := parseWorkerKey(args[0])
				if err != nil {
					return err
				}
				return g.proposeMsgs(cmd, &f.txFlags, f.execute, build(key))
			},
		}
		addGovernedFlags(c, g, &f)
		return c
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the gatekeepers, the master key's generations and the pending gatekeeper tasks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var gks registry.Gatekeepers
			var master registry.MasterKeys
			var tasks registry.GatekeeperTasks
			for path, out := range map[string]proto.Message{registry.QueryGatekeepers: &gks, registry.QueryMasterKeys: &master, registry.QueryTasks: &tasks} {
				if err := g.queryProto(cmd, "/registry/"+path, nil, out); err != nil {
					return err
				}
			}
			out := gatekeepersJSON{Gatekeepers: []string{}, MasterKey: []masterKeyJSON{}, Tasks: []taskJSON{}, TasksDone: tasks.GetDone()}
			for _, k := range gks.GetWorkers() {
				out.Gatekeepers = append(out.Gatekeepers, hex.EncodeToString(k))
			}
			for _, m := range master.GetGenerations() {
				out.MasterKey = append(out.MasterKey, masterKeyJSON{Generation: m.GetGeneration(), PublicKey: hex.EncodeToString(m.GetPublicKey()),
					Height: m.GetHeight(), Sender: hex.EncodeToString(m.GetSender())})
			}
			for _, t := range tasks.GetPending() {
				out.Tasks = append(out.Tasks, taskJSON{ID: t.GetId(), Kind: registry.TaskKind(t), Height: t.GetHeight()})
			}
			return g.print(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "gatekeepers (%d):\n", len(out.Gatekeepers))
				for _, k := range out.Gatekeepers {
					fmt.Fprintf(w, "  %s\n", k)
				}
				if len(out.MasterKey) == 0 {
					fmt.Fprintln(w, "master key: not published yet")
				}
				for _, m := range out.MasterKey {
					fmt.Fprintf(w, "master key generation %d: public key %s, published at %d by %s\n", m.Generation, m.PublicKey, m.Height, m.Sender)
				}
				fmt.Fprintf(w, "tasks answered: %d, pending: %d\n", out.TasksDone, len(out.Tasks))
				for _, t := range out.Tasks {
					fmt.Fprintf(w, "  task %d %s (set at %d)\n", t.ID, t.Kind, t.Height)
				}
			})
		},
	}
	var rf governedFlags
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Propose rotating the master key: the gatekeepers create a new generation and share it among themselves",
		Long: `Proposes a new master key generation. A gatekeeper creates it, every gatekeeper receives it
sealed to its own key, and the chain publishes its public key, announced under the old one. Old
generations are kept, so data produced under them stays readable; clusters created or re-keyed
afterwards derive from the new generation. Rotate after unregistering a gatekeeper you no longer
trust.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.proposeMsgs(cmd, &rf.txFlags, rf.execute, &registry.MsgRotateMasterKey{})
		},
	}
	addGovernedFlags(rotate, g, &rf)
	cmd.AddCommand(list, rotate,
		membership("register", "Propose promoting a registered worker to gatekeeper (the first one creates the master key)", func(k []byte) proto.Message { return &registry.MsgRegisterGatekeeper{Worker: k} }),
		membership("unregister", "Propose demoting a gatekeeper", func(k []byte) proto.Message { return &registry.MsgUnregisterGatekeeper{Worker: k} }))
	return cmd
}

type gatekeepersJSON struct {
	Gatekeepers []string        `json:"gatekeepers"`
	MasterKey   []masterKeyJSON `json:"master_key"`
	TasksDone   uint64          `json:"tasks_done"`
	Tasks       []taskJSON      `json:"pending_tasks"`
}

type masterKeyJSON struct {
	Generation uint32 `json:"generation"`
	PublicKey  string `json:"public_key"`
	Height     int64  `json:"height"`
	Sender     string `json:"sender"`
}

type taskJSON struct {
	ID     uint64 `json:"id"`
	Kind   string `json:"kind"`
	Height int64  `json:"height"`
}

// parseClusterID accepts a cluster's number or its 64-hex-digit id.
func parseClusterID(s string) ([]byte, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil && n > 0 {
		return registry.ClusterID(n), nil
	}
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != registry.ClusterIDLen {
		return nil, fmt.Errorf("cluster %q: want its number (1, 2, ...) or its 64-hex-digit id (see `phala cluster list`)", s)
	}
	return b, nil
}

func newClusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Clusters of workers sharing a key (governed)"}
	var cf governedFlags
	create := &cobra.Command{
		Use:   "create IDENTITY_KEY...",
		Short: "Propose a cluster of registered workers; the gatekeepers send each its key",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg := &registry.MsgCreateCluster{}
			for _, a := range args {
				k, err := parseWorkerKey(a)
				if err != nil {
					return err
				}
				msg.Workers = append(msg.Workers, k)
			}
			return g.proposeMsgs(cmd, &cf.txFlags, cf.execute, msg)
		},
	}
	addGovernedFlags(create, g, &cf)
	member := func(use, short string, build func(cluster, worker []byte) proto.Message) *cobra.Command {
		var f governedFlags
		c := &cobra.Command{
			Use:   use + " CLUSTER IDENTITY_KEY",
			Short: short,
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := parseClusterID(args[0])
				if err != nil {
					return err
				}
				w, err := parseWorkerKey(args[1])
				if err != nil {
					return err
				}
				return g.proposeMsgs(cmd, &f.txFlags, f.execute, build(id, w))
			},
		}
		addGovernedFlags(c, g, &f)
		return c
	}
	show := &cobra.Command{
		Use:   "show CLUSTER",
		Short: "Show a cluster: members, key generations and who holds them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseClusterID(args[0])
			if err != nil {
				return err
			}
			var c registry.Cluster
			if err := g.queryProto(cmd, "/registry/"+registry.QueryCluster, id, &c); err != nil {
				return err
			}
			out := toClusterJSON(&c)
			return g.print(cmd, out, func(w io.Writer) { printCluster(w, out) })
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the clusters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cs registry.Clusters
			if err := g.queryProto(cmd, "/registry/"+registry.QueryClusters, nil, &cs); err != nil {
				return err
			}
			out := []clusterJSON{}
			for _, c := range cs.GetClusters() {
				out = append(out, toClusterJSON(c))
			}
			return g.print(cmd, out, func(w io.Writer) {
				for _, c := range out {
					printCluster(w, c)
				}
			})
		},
	}
	cmd.AddCommand(create, show, list,
		member("add-worker", "Propose adding a worker; it receives the cluster's key history", func(c, w []byte) proto.Message {
			return &registry.MsgAddClusterWorker{Cluster: c, Worker: w}
		}),
		member("remove-worker", "Propose removing a worker; the cluster moves to a new key generation it never receives", func(c, w []byte) proto.Message {
			return &registry.MsgRemoveClusterWorker{Cluster: c, Worker: w}
		}))
	return cmd
}

type clusterJSON struct {
	Number     string           `json:"number"`
	ID         string           `json:"id"`
	Generation uint32           `json:"generation"`
	Created    int64            `json:"created_height"`
	Workers    []clusterMember  `json:"workers"`
	Keys       []clusterKeyJSON `json:"keys"`
}

type clusterMember struct {
	Worker   string `json:"worker"`
	Deployed uint32 `json:"deployed_generation"`
}

type clusterKeyJSON struct {
	Generation       uint32            `json:"generation"`
	MasterGeneration uint32            `json:"master_generation"`
	SigningKey       string            `json:"signing_key"`
	EncryptionKeys   map[string]string `json:"encryption_keys"`
	Height           int64             `json:"height"`
}

func toClusterJSON(c *registry.Cluster) clusterJSON {
	out := clusterJSON{Number: registry.ClusterLabel(c.GetId()), ID: hex.EncodeToString(c.GetId()), Generation: c.GetGeneration(),
		Created: c.GetCreatedHeight(), Workers: []clusterMember{}, Keys: []clusterKeyJSON{}}
	for _, w := range c.GetWorkers() {
		m := clusterMember{Worker: hex.EncodeToString(w)}
		for _, d := range c.GetDeployed() {
			if string(d.GetWorker()) == string(w) {
				m.Deployed = d.GetGeneration()
			}
		}
		out.Workers = append(out.Workers, m)
	}
	for _, k := range c.GetKeys() {
		kj := clusterKeyJSON{Generation: k.GetGeneration(), MasterGeneration: k.GetMasterGeneration(), SigningKey: hex.EncodeToString(k.GetSigningKey()),
			EncryptionKeys: map[string]string{}, Height: k.GetHeight()}
		for _, e := range k.GetEncryptionKeys() {
			kj.EncryptionKeys[fmt.Sprintf("%#04x", e.GetKem())] = hex.EncodeToString(e.GetPublicKey())
		}
		out.Keys = append(out.Keys, kj)
	}
	return out
}

func printCluster(w io.Writer, c clusterJSON) {
	fmt.Fprintf(w, "cluster %s (id %s), created at %d, key generation %d\n", c.Number, c.ID, c.Created, c.Generation)
	for _, m := range c.Workers {
		held := "key not yet received"
		if m.Deployed > 0 {
			held = fmt.Sprintf("holds generation %d", m.Deployed)
		}
		fmt.Fprintf(w, "  worker %s  %s\n", m.Worker, held)
	}
	for _, k := range c.Keys {
		fmt.Fprintf(w, "  key generation %d (from master generation %d, published at %d): signing key %s\n", k.Generation, k.MasterGeneration, k.Height, k.SigningKey)
	}
	if len(c.Keys) == 0 || c.Keys[len(c.Keys)-1].Generation < c.Generation {
		fmt.Fprintf(w, "  key generation %d: waiting for the gatekeepers\n", c.Generation)
	}
}
