package gossip

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
)

// KeyOp is an operation on the pool's keyring.
type KeyOp string

// Keyring operations, as Serf and Nomad name them: install a key (every
// member then decrypts with it), use it (every member encrypts with it),
// remove the old one.
const (
	KeyList    KeyOp = "list"
	KeyInstall KeyOp = "install"
	KeyUse     KeyOp = "use"
	KeyRemove  KeyOp = "remove"
)

// KeyringResult is what the members answered to one keyring operation.
type KeyringResult struct {
	Op KeyOp
	// Members is how many members were asked: every member alive in this
	// one's view, itself included.
	Members int
	// Keys counts, for each key (base64), the members that hold it after
	// the operation; Primary, for each key, those that encrypt with it.
	// Members that failed are not counted.
	Keys    map[string]int
	Primary map[string]int
	// Failed says why, for each member that did not apply the operation
	// (or did not answer).
	Failed map[string]string
}

// Succeeded is how many members applied the operation.
func (r *KeyringResult) Succeeded() int { return r.Members - len(r.Failed) }

func (r *KeyringResult) add(keys []string) {
	for i, k := range keys {
		r.Keys[k]++
		if i == 0 {
			r.Primary[k]++
		}
	}
}

// User messages between members: one byte of type, then JSON. memberlist
// encrypts them as it does its own messages.
const (
	msgKeyringRequest  byte = 'k'
	msgKeyringResponse byte = 'K'
)

// keyringRequest asks a member to apply an operation; ID matches the
// answer to it, From is who asked (and is answered).
type keyringRequest struct {
	ID   string `json:"id"`
	From string `json:"from"`
	Op   KeyOp  `json:"op"`
	Key  string `json:"key,omitempty"`
}

// keyringResponse is a member's answer: its keys after the operation,
// primary first, or why it failed.
type keyringResponse struct {
	ID     string   `json:"id"`
	Member string   `json:"member"`
	Keys   []string `json:"keys,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// keyringState is the pool's keyring (nil when gossip is not encrypted),
// the file it is saved to, and the operations this member awaits answers
// to.
type keyringState struct {
	ring   *memberlist.Keyring
	file   string
	logger *log.Logger
	// mu serialises changes of the keyring and its file.
	mu sync.Mutex

	callsMu sync.Mutex
	calls   map[string]*keyringCall
}

// keyringCall is one operation waiting for its answers.
type keyringCall struct {
	// waiting are the members not yet settled (answered or failed).
	waiting map[string]bool
	settled chan keyringResponse
}

// Encrypted reports whether this member encrypts its gossip.
func (p *Pool) Encrypted() bool { return p.kr.ring != nil }

// Keys are this member's keys, primary first (nil without encryption).
func (p *Pool) Keys() [][]byte {
	if p.kr.ring == nil {
		return nil
	}
	p.kr.mu.Lock()
	defer p.kr.mu.Unlock()
	return copyKeys(p.kr.ring.GetKeys())
}

// Keyring applies op (with key, but for KeyList) on every member alive in
// this member's view and counts what they answer; ctx bounds the wait for
// answers (a member that has not answered by then is listed as failed).
// Bad input (a key of a wrong size, use of a key this member lacks,
// removal of its primary key) is refused before anyone is asked. So are a
// use and a removal that would cut a member off: every member is asked
// for its keys first, and a use is refused while a member lacks the key, a
// removal while a member still encrypts with it (ErrMembersNotReady).
func (p *Pool) Keyring(ctx context.Context, op KeyOp, key []byte) (*KeyringResult, error) {
	if p.kr.ring == nil {
		return nil, ErrNotEncrypted
	}
	if err := p.checkKeyOp(op, key); err != nil {
		return nil, err
	}
	if op == KeyUse || op == KeyRemove {
		if err := p.everyMemberReady(ctx, op, key); err != nil {
			return nil, err
		}
	}
	a, err := p.ask(ctx, op, key)
	if err != nil {
		return nil, err
	}
	res := &KeyringResult{Op: op, Members: a.members, Keys: map[string]int{}, Primary: map[string]int{}, Failed: a.failed}
	for _, keys := range a.keys {
		res.add(keys)
	}
	return res, nil
}

// everyMemberReady refuses a use of a key some member lacks, and a removal
// of a key some member encrypts with, or when a member does not say.
func (p *Pool) everyMemberReady(ctx context.Context, op KeyOp, key []byte) error {
	a, err := p.ask(ctx, KeyList, nil)
	if err != nil {
		return err
	}
	want := EncodeKey(key)
	var blockers []string
	for name, why := range a.failed {
		blockers = append(blockers, fmt.Sprintf("%s did not say which keys it holds (%s)", name, why))
	}
	for name, keys := range a.keys {
		switch {
		case op == KeyUse && !slices.Contains(keys, want):
			blockers = append(blockers, name+" does not hold the key: install it on every member first")
		case op == KeyRemove && len(keys) > 0 && keys[0] == want:
			blockers = append(blockers, name+" still encrypts with the key: use another one on every member first")
		}
	}
	if len(blockers) == 0 {
		return nil
	}
	sort.Strings(blockers)
	return fmt.Errorf("%s %w: %s", op, ErrMembersNotReady, strings.Join(blockers, "; "))
}

// answers are what the members answered to one request: each one's keys
// after it, primary first, or why it failed.
type answers struct {
	members int
	keys    map[string][]string
	failed  map[string]string
}

// ask sends a request to every member alive in this member's view (alive
// and suspect ones), through the encrypted gossip itself, and applies it
// here last, so that a member that cannot take a change says so while the
// others can still read it.
func (p *Pool) ask(ctx context.Context, op KeyOp, key []byte) (answers, error) {
	if err := ctx.Err(); err != nil {
		return answers{}, err // out of time before anything was sent
	}
	self := p.ml.LocalNode().Name
	var targets []*memberlist.Node
	for _, n := range p.ml.Members() {
		if n.Name != self {
			targets = append(targets, n)
		}
	}
	a := answers{members: len(targets) + 1, keys: map[string][]string{}, failed: map[string]string{}}
	record := func(r keyringResponse) {
		delete(a.failed, r.Member)
		if r.Error != "" {
			a.failed[r.Member] = r.Error
		} else {
			a.keys[r.Member] = r.Keys
		}
	}
	req := keyringRequest{ID: newCallID(), From: self, Op: op}
	if op != KeyList {
		req.Key = EncodeKey(key)
	}
	msg, err := encodeMsg(msgKeyringRequest, req)
	if err != nil {
		return a, err
	}
	call := &keyringCall{waiting: map[string]bool{}, settled: make(chan keyringResponse, len(targets))}
	for _, n := range targets {
		call.waiting[n.Name] = true
	}
	p.kr.callsMu.Lock()
	if p.kr.calls == nil {
		p.kr.calls = map[string]*keyringCall{}
	}
	p.kr.calls[req.ID] = call
	p.kr.callsMu.Unlock()
	defer func() {
		p.kr.callsMu.Lock()
		delete(p.kr.calls, req.ID)
		p.kr.callsMu.Unlock()
	}()
	for _, n := range targets {
		go func() {
			if err := p.ml.SendReliable(n, msg); err != nil {
				p.settle(req.ID, keyringResponse{ID: req.ID, Member: n.Name, Error: "not reached: " + err.Error()})
			}
		}()
	}
	for pending := len(targets); pending > 0; pending-- {
		select {
		case r := <-call.settled:
			record(r)
		case <-ctx.Done():
			p.kr.callsMu.Lock()
			for name := range call.waiting {
				a.failed[name] = "no answer: " + ctx.Err().Error()
			}
			call.waiting = nil
			p.kr.callsMu.Unlock()
			// Answers that came in meanwhile count.
			for len(call.settled) > 0 {
				record(<-call.settled)
			}
			pending = 0
		}
	}
	keys, err := p.applyKeyOp(op, key, self)
	if err != nil {
		a.failed[self] = err.Error()
	} else {
		a.keys[self] = encodeKeys(keys)
	}
	return a, nil
}

// checkKeyOp refuses what this member would refuse, before anyone is asked.
func (p *Pool) checkKeyOp(op KeyOp, key []byte) error {
	switch op {
	case KeyList:
		return nil
	case KeyInstall, KeyUse, KeyRemove:
	default:
		return fmt.Errorf("unknown keyring operation %q: want list, install, use or remove", op)
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return fmt.Errorf("gossip key: %w", err)
	}
	p.kr.mu.Lock()
	defer p.kr.mu.Unlock()
	keys := p.kr.ring.GetKeys()
	switch {
	case op == KeyUse && !containsKey(keys, key):
		return ErrKeyNotInstalled
	case op == KeyRemove && bytes.Equal(keys[0], key):
		return ErrPrimaryKey
	}
	return nil
}

// applyKeyOp applies op to this member's keyring and saves it; it returns
// the keys after it, primary first.
func (p *Pool) applyKeyOp(op KeyOp, key []byte, by string) ([][]byte, error) {
	if p.kr.ring == nil {
		return nil, ErrNotEncrypted
	}
	p.kr.mu.Lock()
	defer p.kr.mu.Unlock()
	ring := p.kr.ring
	var err error
	switch op {
	case KeyList:
		return copyKeys(ring.GetKeys()), nil
	case KeyInstall:
		err = ring.AddKey(key)
	case KeyUse:
		if !containsKey(ring.GetKeys(), key) {
			return nil, ErrKeyNotInstalled
		}
		err = ring.UseKey(key)
	case KeyRemove:
		if bytes.Equal(ring.GetPrimaryKey(), key) {
			return nil, ErrPrimaryKey
		}
		// memberlist shifts the keys after the removed one in place; in a
		// rotation (install, use, remove) the old key is the last one and
		// nothing moves.
		err = ring.RemoveKey(key)
	default:
		return nil, fmt.Errorf("unknown keyring operation %q", op)
	}
	if err != nil {
		return nil, err
	}
	keys := copyKeys(ring.GetKeys())
	if p.kr.file != "" {
		if err := SaveKeyring(p.kr.file, keys); err != nil {
			return nil, fmt.Errorf("keyring changed but not saved (a restart would undo it): %w", err)
		}
	}
	p.kr.logger.Printf("[INFO] flotilla: gossip keyring: %s of a key, asked by %s; %d keys now", op, by, len(keys))
	return keys, nil
}

// notifyMsg takes a user message (a copy: memberlist reuses the buffer).
// It must not block: requests are answered in a goroutine of their own.
func (p *Pool) notifyMsg(msg []byte) {
	if len(msg) == 0 {
		return
	}
	body := bytes.Clone(msg[1:])
	switch msg[0] {
	case msgKeyringRequest:
		go p.answerKeyring(body)
	case msgKeyringResponse:
		var resp keyringResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			p.kr.logger.Printf("[WARN] flotilla: unreadable keyring answer: %v", err)
			return
		}
		p.settle(resp.ID, resp)
	}
}

// settle hands an answer to the operation waiting for it, once per member
// it asked; answers to no operation, from members not asked, or after the
// operation gave up are dropped.
func (p *Pool) settle(id string, resp keyringResponse) {
	p.kr.callsMu.Lock()
	defer p.kr.callsMu.Unlock()
	call := p.kr.calls[id]
	if call == nil || !call.waiting[resp.Member] {
		return
	}
	delete(call.waiting, resp.Member)
	call.settled <- resp // room for every member asked
}

// answerKeyring applies a request from another member and answers it.
func (p *Pool) answerKeyring(body []byte) {
	var req keyringRequest
	if err := json.Unmarshal(body, &req); err != nil {
		p.kr.logger.Printf("[WARN] flotilla: unreadable keyring request: %v", err)
		return
	}
	self := p.ml.LocalNode().Name
	resp := keyringResponse{ID: req.ID, Member: self}
	var key []byte
	var err error
	if req.Op != KeyList {
		key, err = ParseKey(req.Key)
	}
	var keys [][]byte
	if err == nil {
		keys, err = p.applyKeyOp(req.Op, key, req.From)
	}
	if err != nil {
		resp.Error = err.Error()
	} else {
		resp.Keys = encodeKeys(keys)
	}
	msg, err := encodeMsg(msgKeyringResponse, resp)
	if err != nil {
		return
	}
	for _, n := range p.ml.Members() {
		if n.Name == req.From {
			if err := p.ml.SendReliable(n, msg); err != nil {
				p.kr.logger.Printf("[WARN] flotilla: answer keyring request of %s: %v", req.From, err)
			}
			return
		}
	}
	p.kr.logger.Printf("[WARN] flotilla: keyring request from %s, which is not a member here: not answered", req.From)
}

func encodeMsg(kind byte, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{kind}, body...), nil
}

func newCallID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported systems
	}
	return hex.EncodeToString(b[:])
}

func copyKeys(keys [][]byte) [][]byte {
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		out = append(out, bytes.Clone(k))
	}
	return out
}

func encodeKeys(keys [][]byte) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, EncodeKey(k))
	}
	return out
}
