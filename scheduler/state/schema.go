package state

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"

	"flotilla/api"
)

// Tables of the state store.
const (
	tableServices  = "services"
	tableRevisions = "revisions"
	tableNodes     = "nodes"
	tableAllocs    = "allocs"
	tableEvals     = "evals"
	tableEvents    = "events"
	tableRollouts  = "rollouts"
	tableIndex     = "index"
)

// IndexCapacity is the key in the index table that moves whenever capacity
// may have appeared (a node joined or became eligible, an allocation
// stopped): blocked evaluations run again when it does.
const IndexCapacity = "capacity"

// eventCounter is the key in the index table that numbers events; unlike
// the other keys it is not a Raft index. Nor is clusterIDKey's, the
// cluster's random ID, nor vipCursorKey's, the last virtual IP given out
// (an IPv4 address as a number), where the next search starts: an address
// a deleted service gave back is given again only once the pool has gone
// round, not to the next service created.
const (
	eventCounter = "events-id"
	clusterIDKey = "cluster-id"
	vipCursorKey = "vip-cursor"
)

// notRaftIndex reports whether an index table key holds something other
// than a Raft index.
func notRaftIndex(key string) bool {
	return key == eventCounter || key == clusterIDKey || key == vipCursorKey
}

// IndexEntry records the Raft index that last changed a table.
type IndexEntry struct {
	Key   string
	Value uint64
}

// keyIndex indexes by a string key computed from the object. Keys end with
// a NUL so that "web" is not a prefix match of "web2" in exact lookups.
// No reflection: the allocation table takes hundreds of thousands of inserts.
type keyIndex struct {
	key func(obj any) string
}

func (k keyIndex) FromObject(obj any) (bool, []byte, error) {
	s := k.key(obj)
	return s != "", []byte(s + "\x00"), nil
}

func (k keyIndex) FromArgs(args ...any) ([]byte, error) {
	b, err := k.PrefixFromArgs(args...)
	if err != nil {
		return nil, err
	}
	return append(b, 0), nil
}

// PrefixFromArgs joins the arguments with NUL, as compound keys are built.
func (k keyIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	parts := make([]string, len(args))
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("index argument %d: want string, got %T", i, a)
		}
		parts[i] = s
	}
	return []byte(strings.Join(parts, "\x00")), nil
}

// uintIndex indexes by a number in big-endian so that iteration is ordered.
type uintIndex struct {
	value func(obj any) uint64
}

func (u uintIndex) FromObject(obj any) (bool, []byte, error) {
	return true, binary.BigEndian.AppendUint64(nil, u.value(obj)), nil
}

func (u uintIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("want one argument")
	}
	v, ok := args[0].(uint64)
	if !ok {
		return nil, fmt.Errorf("want uint64, got %T", args[0])
	}
	return binary.BigEndian.AppendUint64(nil, v), nil
}

// revisionIndex orders a service's revisions by number under its key.
type revisionIndex struct{}

func (revisionIndex) FromObject(obj any) (bool, []byte, error) {
	r := obj.(*api.Revision)
	key := []byte(r.Namespace + "\x00" + r.Name + "\x00")
	return true, binary.BigEndian.AppendUint64(key, uint64(r.Revision)), nil
}

func (revisionIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("want namespace, name, revision")
	}
	ns, _ := args[0].(string)
	name, _ := args[1].(string)
	rev, ok := args[2].(int)
	if !ok {
		return nil, fmt.Errorf("revision: want int, got %T", args[2])
	}
	return binary.BigEndian.AppendUint64([]byte(ns+"\x00"+name+"\x00"), uint64(rev)), nil
}

func (revisionIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("want namespace, name")
	}
	ns, _ := args[0].(string)
	name, _ := args[1].(string)
	return []byte(ns + "\x00" + name + "\x00"), nil
}

// serviceKey is a service's key in the tables indexed by service.
func serviceKey(ns, name string) string { return ns + "\x00" + name }

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableServices: {Name: tableServices, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string {
				s := o.(*api.Service)
				return serviceKey(s.Namespace, s.Name)
			}}},
		}},
		tableRevisions: {Name: tableRevisions, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: revisionIndex{}},
		}},
		tableNodes: {Name: tableNodes, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*api.Node).Name }}},
		}},
		tableAllocs: {Name: tableAllocs, Indexes: map[string]*memdb.IndexSchema{
			"id":      {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*api.Allocation).ID }}},
			"node":    {Name: "node", Indexer: keyIndex{func(o any) string { return o.(*api.Allocation).Node }}},
			"service": {Name: "service", Indexer: keyIndex{func(o any) string { a := o.(*api.Allocation); return serviceKey(a.Namespace, a.Service) }}},
		}},
		tableEvals: {Name: tableEvals, Indexes: map[string]*memdb.IndexSchema{
			"id":      {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*api.Evaluation).ID }}},
			"service": {Name: "service", Indexer: keyIndex{func(o any) string { e := o.(*api.Evaluation); return serviceKey(e.Namespace, e.Service) }}},
			"create":  {Name: "create", Indexer: uintIndex{func(o any) uint64 { return o.(*api.Evaluation).CreateIndex }}},
		}},
		tableRollouts: {Name: tableRollouts, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string {
				r := o.(*api.Rollout)
				return serviceKey(r.Namespace, r.Service)
			}}},
		}},
		tableEvents: {Name: tableEvents, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: uintIndex{func(o any) uint64 { return o.(*api.Event).ID }}},
		}},
		tableRequests: requestsTableSchema(),
		tableConfigs:  configsTableSchema(), tableSecrets: secretsTableSchema(), tableKeyring: keyringTableSchema(),
		tableACLPolicies:   aclTableSchemas()[tableACLPolicies],
		tableACLTokens:     aclTableSchemas()[tableACLTokens],
		tableWorkloadCA:    workloadCATableSchema(),
		tableServiceCounts: serviceCountsSchema(),
		tableIndex: {Name: tableIndex, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: keyIndex{func(o any) string { return o.(*IndexEntry).Key }}},
		}},
	}}
}
