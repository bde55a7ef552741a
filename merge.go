package bulkid

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"

	"github.com/valyala/fastjson"
)

// StoredProfile is a profile as a store holds it before a batch, read (in
// PostgreSQL, locked) by the store and handed to ApplyRecords.
type StoredProfile struct {
	Metadata  []byte // the stored JSON object, in any layout
	CompanyID string // users: the company associated, "" for none
}

// ProfileWrite is what a store writes for one profile after ApplyRecords.
type ProfileWrite struct {
	ID string
	// Create: the profile was not stored; it is created with Metadata.
	// A profile whose every record was rejected is not created.
	Create bool
	// Updated: a record of this id was applied and changed the profile
	// (see RowCounts), so Metadata (and, for users, CompanyID) is to be
	// written and updated_at moves. A profile the batch's records leave
	// as it was is not written at all: its updated_at stays, and a
	// re-sync of unchanged rows writes nothing (on PostgreSQL, leaves no
	// dead row versions behind for a VACUUM). A company that is only
	// named by a user's company_id is neither rewritten nor moved.
	Updated   bool
	Metadata  []byte // compact JSON, valid when Create or Updated; may share a record's Metadata: read it only
	CompanyID string // users: the association after the batch
}

// Applied is the outcome of ApplyRecords for one batch.
type Applied struct {
	// Companies holds the companies to create or update, in id order; a
	// company that is stored and only named by users is not among them.
	Companies []ProfileWrite
	// Users holds the users to create or update (those with a record
	// applied), in id order.
	Users []ProfileWrite
	// Dirty lists the companies whose user count may have changed, in
	// id order.
	Dirty []string
	// Deltas says by how much each company of Dirty (Deltas[i] is
	// Dirty[i]'s) changes its user count: one more for each user that
	// joins it, one less for each that leaves it, so that a store keeps
	// counts by difference without counting a company's users again. A
	// company that is not stored has no count to change: a user leaving
	// one changes nothing.
	Deltas []int
	// Rejected holds the records that were not applied, in input order,
	// each with the Seq, Pos and Raw of its Record.
	Rejected []RecordError
	// RejectedCompany/RejectedUser say which records (by index) were
	// rejected.
	RejectedCompany, RejectedUser map[int]bool
	// CompanyRows and UserRows say what the applied records did, each
	// record counted once: the company and the user records.
	CompanyRows, UserRows RowCounts
}

// RowCounts sorts applied records by what each did to its profile, in
// the order they apply: Created (the profile did not exist), Updated (a
// stored value changed: a metadata key was set to a new value, added or
// removed, or a user's company changed) and Unchanged (the profile was
// left as it was). A record that follows another of the same id in a
// batch is judged against the profile that record left.
type RowCounts struct {
	Created, Updated, Unchanged int
}

// Add adds the counts of o to c.
func (c *RowCounts) Add(o RowCounts) {
	c.Created += o.Created
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
}

// count counts one applied record of a profile: created if it is the
// first applied record of a profile that was not stored.
func (c *RowCounts) count(first, stored, changed bool) {
	switch {
	case first && !stored:
		c.Created++
	case changed:
		c.Updated++
	default:
		c.Unchanged++
	}
}

// Needs returns the ids a store must read before ApplyRecords: every
// company and user the records name, each sorted by bytes and without
// duplicates. The companies users leave are not among them (they are read
// from the users); callers add them.
func Needs(companies, users []Record) (companyIDs, userIDs []string) {
	for _, r := range companies {
		companyIDs = append(companyIDs, r.ID)
	}
	for _, r := range users {
		userIDs = append(userIDs, r.ID)
		if r.CompanyID != "" {
			companyIDs = append(companyIDs, r.CompanyID)
		}
	}
	return SortedIDs(companyIDs), SortedIDs(userIDs)
}

// SortedIDs sorts ids by bytes and drops duplicates, in place.
func SortedIDs(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// NamedCompanies returns, for each user of recs, the companies its
// records name, so that a store can tell (Leaves) which stored
// associations a batch may change.
func NamedCompanies(users []Record) map[string][]string {
	named := make(map[string][]string, len(users))
	for _, r := range users {
		if r.CompanyID != "" {
			named[r.ID] = append(named[r.ID], r.CompanyID)
		}
	}
	return named
}

// Leaves reports whether a user stored with the company old may be moved
// to another company by records naming the companies named, so that old's
// count may change and the store must read (and lock) old with the
// companies the records name.
func Leaves(old string, named []string) bool {
	return old != "" && slices.ContainsFunc(named, func(c string) bool { return c != old })
}

// ApplyRecords applies company records, then user records, in order, to
// the profiles stored (companies and users, by id; an id missing from
// the map is not stored), and returns what to write. Each record is
// merged on its own: a record whose merge would take its profile's
// metadata over MaxProfileKeys or MaxProfileBytes is not applied (nor,
// for a user, its association) and is returned in Rejected, and the
// records after it see the profile without it. The time taken is linear
// in the records' metadata and in the metadata stored once per profile,
// however many records share an id. Every company a user's company_id
// or stored association names must be in companies or not stored.
func ApplyRecords(companies, users []Record, storedCompanies, storedUsers map[string]StoredProfile) (*Applied, error) {
	out := &Applied{RejectedCompany: map[int]bool{}, RejectedUser: map[int]bool{}}
	// Each record names at most two profiles (a user and its company), so
	// the profiles' states are one allocation, and their members are
	// carved from shared blocks (arena): a batch costs a few
	// allocations, not a few per profile.
	slab := make([]state, 0, len(companies)+2*len(users))
	alloc := arena{texts: make([][]byte, 0, 2*(len(companies)+len(users))+1)}
	newState := func() *state {
		if len(slab) == cap(slab) { // cannot happen: the bound above holds
			return &state{}
		}
		slab = slab[:len(slab)+1]
		return &slab[len(slab)-1]
	}
	// Profiles in the order first named, sorted by id at the end.
	var compOrder, userOrder []*state
	comps := make(map[string]*state, len(companies)+len(users))
	company := func(id string) *state {
		if s, ok := comps[id]; ok {
			return s
		}
		sp, ok := storedCompanies[id]
		s := newState()
		s.w, s.stored = ProfileWrite{ID: id, Create: !ok}, ok
		s.err = s.md.load(sp.Metadata, &alloc)
		comps[id] = s
		compOrder = append(compOrder, s)
		return s
	}
	reject := func(r Record, e *RecordError) {
		e.Seq, e.Pos, e.ID, e.Raw = r.Seq, r.Pos, r.ID, r.Raw
		if e.Raw == nil {
			e.Raw = []byte{} // stores keep it NOT NULL
		}
		out.Rejected = append(out.Rejected, *e)
	}
	for i, r := range companies {
		s := company(r.ID)
		if s.err != nil {
			return nil, s.err
		}
		changed, e := s.md.apply(r.Metadata, "company", r.ID, &alloc)
		if e != nil {
			reject(r, e)
			out.RejectedCompany[i] = true
			continue
		}
		out.CompanyRows.count(!s.w.Updated, s.stored, changed)
		s.w.Updated = s.w.Updated || changed || !s.stored
	}
	usrs := make(map[string]*state, len(users))
	for i, r := range users {
		s, ok := usrs[r.ID]
		if !ok {
			sp, stored := storedUsers[r.ID]
			s = newState()
			s.w, s.stored, s.old = ProfileWrite{ID: r.ID, Create: !stored, CompanyID: sp.CompanyID}, stored, sp.CompanyID
			s.err = s.md.load(sp.Metadata, &alloc)
			usrs[r.ID] = s
			userOrder = append(userOrder, s)
		}
		if s.err != nil {
			return nil, s.err
		}
		changed, e := s.md.apply(r.Metadata, "user", r.ID, &alloc)
		if e != nil {
			reject(r, e)
			out.RejectedUser[i] = true
			continue
		}
		changed = changed || (r.CompanyID != "" && r.CompanyID != s.w.CompanyID)
		out.UserRows.count(!s.w.Updated, s.stored, changed)
		s.w.Updated = s.w.Updated || changed || !s.stored
		if r.CompanyID != "" {
			s.w.CompanyID = r.CompanyID
			company(r.CompanyID).named = true // created empty if not stored
		}
	}
	for _, s := range compOrder {
		if s.err != nil {
			return nil, s.err
		}
		s.w.Create = !s.stored && (s.w.Updated || s.named)
	}
	// The metadata written, all of it in one buffer but for the fresh
	// patches written as they are.
	written := func(s *state, users bool) bool {
		if users {
			return s.w.Updated
		}
		return s.w.Create || s.w.Updated // else named by a rejected record only, or stored and only named by a user
	}
	total := 0
	for _, s := range compOrder {
		if written(s, false) && (s.md.fresh == nil || s.md.freshNulls) {
			total += s.md.size()
		}
	}
	for _, s := range userOrder {
		if written(s, true) && (s.md.fresh == nil || s.md.freshNulls) {
			total += s.md.size()
		}
	}
	buf := make([]byte, 0, total)
	dirty := map[string]int{} // the Dirty companies, each with its delta
	for _, s := range userOrder {
		if !written(s, true) {
			continue
		}
		buf, s.w.Metadata = s.md.appendJSON(buf, &alloc)
		if s.w.CompanyID != s.old {
			if s.old != "" {
				d := dirty[s.old]
				if _, stored := storedCompanies[s.old]; stored {
					d--
				}
				dirty[s.old] = d
			}
			dirty[s.w.CompanyID]++
		}
	}
	for _, s := range compOrder {
		if !written(s, false) {
			continue
		}
		buf, s.w.Metadata = s.md.appendJSON(buf, &alloc)
		if _, ok := dirty[s.w.ID]; !ok && s.w.Create && s.named {
			dirty[s.w.ID] = 0 // a company created by a user's company_id is counted
		}
	}
	delete(dirty, "")
	for id := range dirty {
		out.Dirty = append(out.Dirty, id)
	}
	slices.Sort(out.Dirty)
	out.Deltas = make([]int, len(out.Dirty))
	for i, id := range out.Dirty {
		out.Deltas[i] = dirty[id]
	}
	out.Companies = sortedWrites(compOrder, func(s *state) bool { return written(s, false) })
	out.Users = sortedWrites(userOrder, func(s *state) bool { return written(s, true) })
	slices.SortFunc(out.Rejected, func(a, b RecordError) int { return a.Seq - b.Seq })
	return out, nil
}

// state is one profile while ApplyRecords merges a batch into it.
type state struct {
	w      ProfileWrite
	stored bool
	old    string // users: the stored association
	named  bool   // companies: an applied user record names it
	md     metadataState
	err    error
}

// sortedWrites returns the writes of the states keep takes, in id order.
// The states are sorted as pointers, which is cheaper than sorting the
// writes, and are often in order already (inputs sorted by id).
func sortedWrites(states []*state, keep func(*state) bool) []ProfileWrite {
	slices.SortFunc(states, func(a, b *state) int { return compareStrings(a.w.ID, b.w.ID) })
	n := 0
	for _, s := range states {
		if keep(s) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	ws := make([]ProfileWrite, 0, n)
	for _, s := range states {
		if keep(s) {
			ws = append(ws, s.w)
		}
	}
	return ws
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// metadataState is a profile's metadata while a batch merges into it:
// members in order (those removed left as holes), an index by key, and
// the count and size of the compact JSON they make, kept as records
// apply, so that a record costs what it sends, not what is stored. Keys
// are JSON-quoted as this package writes them.
type metadataState struct {
	members []entry
	index   map[string]int // of members' keys, once there are more than indexAfter
	n       int            // members
	sum     int            // Σ len(key) + 1 + len(val) over the members
	// fresh is, instead of members, the one patch applied to an empty
	// profile (a new profile's usual record) when it is compact: the
	// merged metadata is that patch without its null members, byte for
	// byte the patch if it has none (freshNulls false).
	fresh      []byte
	freshNulls bool
}

// entry is one member of a profile: its key and value as ranges of texts
// of the batch's arena (the stored metadata and the records', which are
// not changed while the batch applies, or bytes written for them). It
// holds no pointer, so that the collector neither scans the members nor
// has a write barrier for each one set.
type entry struct {
	ks, vs         int32 // the texts of key and value; ks -1: removed
	k0, k1, v0, v1 int32
}

// indexAfter is how many members a profile has before they are indexed by
// a map: fewer are found faster by looking through them.
const indexAfter = 16

// arena holds what a batch's profiles' members point into, and hands out
// their member slices from shared blocks, so that a profile's members
// cost no allocation of their own. A slice handed out has its capacity
// capped, so appending beyond it moves it, never into another profile's.
type arena struct {
	texts [][]byte
	block []entry
}

// text adds b to the texts members point into and returns its index.
func (a *arena) text(b []byte) int32 {
	a.texts = append(a.texts, b)
	return int32(len(a.texts) - 1)
}

func (a *arena) key(m entry) []byte { return a.texts[m.ks][m.k0:m.k1] }
func (a *arena) val(m entry) []byte { return a.texts[m.vs][m.v0:m.v1] }

// take returns an empty slice with room for n members.
func (a *arena) take(n int) []entry {
	if n > 256 {
		return make([]entry, 0, n)
	}
	if cap(a.block)-len(a.block) < n {
		a.block = make([]entry, 0, 4096)
	}
	l := len(a.block)
	a.block = a.block[:l+n]
	return a.block[l : l : l+n]
}

// find returns the index of the entry with the quoted key k.
func (m *metadataState) find(k []byte, a *arena) (int, bool) {
	if m.index != nil {
		i, ok := m.index[string(k)]
		return i, ok
	}
	for i, mb := range m.members {
		if mb.ks >= 0 && int(mb.k1-mb.k0) == len(k) && bytes.Equal(a.key(mb), k) {
			return i, true
		}
	}
	return -1, false
}

// size is the length of the compact JSON object of the members.
func (m *metadataState) size() int {
	return 2 + m.sum + max(0, m.n-1)
}

// spare is the room for new members a profile's slice is given as it is
// loaded: a merge often adds a key or two.
const spare = 4

// load sets m to the stored metadata, none if stored is empty.
func (m *metadataState) load(stored []byte, a *arena) error {
	if len(stored) == 0 {
		return nil
	}
	// Compact JSON, or jsonb as PostgreSQL writes it out (a space after
	// each colon and comma), is taken as it is. Keys must be written as
	// appendString writes them, so that equal keys are equal bytes: a key
	// with an escape may be written otherwise, and takes the slow path.
	// Values are kept as the store wrote them (PostgreSQL writes a
	// control character as \b where this package writes \u0008).
	var buf [32]span
	if spans, ok := members(buf[:0], stored, true); ok && !slices.ContainsFunc(spans, func(s span) bool {
		return bytes.IndexByte(stored[s.k0:s.k1], '\\') >= 0
	}) {
		t := a.text(stored)
		m.members = a.take(len(spans) + spare)
		if distinct(stored, spans) {
			for _, s := range spans {
				m.push(entry{t, t, s.k0, s.k1, s.v0, s.v1}, a)
			}
		} else {
			for _, s := range spans {
				m.set(entry{t, t, s.k0, s.k1, s.v0, s.v1}, a)
			}
		}
		return nil
	}
	// Any other layout: parse it and write each entry as this package
	// does.
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(stored)
	if err != nil {
		return fmt.Errorf("bulkid: stored metadata is not JSON: %w", err)
	}
	obj, err := v.Object()
	if err != nil {
		return fmt.Errorf("bulkid: stored metadata is not an object: %w", err)
	}
	written, spans := rewrite(obj, buf[:0])
	t := a.text(written)
	m.members = a.take(len(spans) + spare)
	for _, s := range spans {
		m.set(entry{t, t, s.k0, s.k1, s.v0, s.v1}, a)
	}
	return nil
}

// rewrite writes the members of obj as this package does, one after
// another, and returns the text and where each entry is in it.
func rewrite(obj *fastjson.Object, spans []span) ([]byte, []span) {
	var w []byte
	obj.Visit(func(k []byte, v *fastjson.Value) {
		k0 := len(w)
		w = appendString(w, k)
		v0 := len(w)
		w = appendValue(w, v)
		spans = append(spans, span{int32(k0), int32(v0), int32(v0), int32(len(w))})
	})
	return w, spans
}

// distinct reports, cheaply, that no two of the members spans of text
// have the same key: their keys are in strictly increasing order by bytes
// (as this package writes a new profile) or by length and then bytes (as
// PostgreSQL keeps jsonb). It may report false for distinct keys in
// another order.
func distinct(text []byte, spans []span) bool {
	byBytes, byLength := true, true
	for i := 1; i < len(spans) && (byBytes || byLength); i++ {
		a, b := spans[i-1].key(text), spans[i].key(text)
		byBytes = byBytes && bytes.Compare(a, b) < 0
		byLength = byLength && (len(a) < len(b) || len(a) == len(b) && bytes.Compare(a, b) < 0)
	}
	return byBytes || byLength
}

// push appends mb, whose key m does not hold; there must be room.
func (m *metadataState) push(mb entry, a *arena) {
	m.members = append(m.members, mb)
	m.n++
	m.sum += int(mb.k1-mb.k0) + 1 + int(mb.v1-mb.v0)
	switch {
	case m.index != nil:
		m.index[string(a.key(mb))] = len(m.members) - 1
	case len(m.members) > indexAfter:
		m.index = make(map[string]int, 2*len(m.members))
		for i, x := range m.members {
			if x.ks >= 0 {
				m.index[string(a.key(x))] = i
			}
		}
	}
}

// replace sets the value of entry i, which is present, to that of mb,
// or removes it if remove.
func (m *metadataState) replace(i int, mb entry, remove bool, a *arena) {
	x := &m.members[i]
	m.sum -= int(x.k1-x.k0) + 1 + int(x.v1-x.v0)
	if remove {
		if m.index != nil {
			delete(m.index, string(a.key(*x)))
		}
		x.ks = -1
		m.n--
		return
	}
	x.vs, x.v0, x.v1 = mb.vs, mb.v0, mb.v1
	m.sum += int(x.k1-x.k0) + 1 + int(x.v1-x.v0)
}

// set sets the entry of mb's key to mb's value (JSON null: removes it).
func (m *metadataState) set(mb entry, a *arena) {
	remove := bytes.Equal(a.val(mb), null)
	if i, ok := m.find(a.key(mb), a); ok {
		m.replace(i, mb, remove, a)
		return
	}
	if remove {
		return
	}
	m.grow(1, a)
	m.push(mb, a)
}

// grow makes room for n more members.
func (m *metadataState) grow(n int, a *arena) {
	if cap(m.members)-len(m.members) >= n {
		return
	}
	ms := a.take(len(m.members) + max(n, spare))
	m.members = append(ms, m.members...)
}

// apply merges patch (ValidateRecord's metadata, or nil) into m if the
// result is within the profile bounds, and reports whether that changed a
// value; otherwise it leaves m as it was and says why.
func (m *metadataState) apply(patch []byte, kind, id string, a *arena) (changed bool, _ *RecordError) {
	if patch == nil {
		return false, nil
	}
	var buf [32]span
	text := patch
	spans, ok := flatMembers(buf[:0], patch)
	if !ok {
		p := parsers.Get()
		defer parsers.Put(p)
		v, err := p.ParseBytes(patch)
		if err != nil {
			return false, &RecordError{Code: RInvalidMetadata, Message: "metadata is not a JSON object"}
		}
		obj, err := v.Object()
		if err != nil {
			return false, &RecordError{Code: RInvalidMetadata, Message: "metadata is not a JSON object"}
		}
		text, spans = rewrite(obj, buf[:0])
	}
	// ValidateRecord's patches have each key once, sorted; any other has
	// its duplicates resolved here, the last winning: the others are
	// dropped from spans.
	sorted := true
	for i := 1; i < len(spans); i++ {
		if bytes.Compare(spans[i-1].key(text), spans[i].key(text)) >= 0 {
			spans, sorted = lastOfEach(text, spans), false
			break
		}
	}
	if m.fresh != nil {
		m.materialize(a)
	}
	if ok && sorted && len(m.members) == 0 {
		// Into an empty profile, a compact patch is what the merge
		// makes, but for its removals (of keys that are not there): it
		// is kept as it is, and written as it is if it removes nothing.
		n, sum := 0, 0
		for _, s := range spans {
			if !bytes.Equal(s.val(text), null) {
				n++
				sum += int(s.k1-s.k0) + 1 + int(s.v1-s.v0)
			}
		}
		if e := m.bound(n, 2+sum+max(0, n-1), kind, id); e != nil {
			return false, e
		}
		m.fresh, m.freshNulls, m.n, m.sum = patch, n < len(spans), n, sum
		return n > 0, nil
	}
	// Where each key is in m (-1: not there), found once: then the count
	// and size the merge would leave, without changing m.
	var where [32]int
	at := where[:0]
	n, sum := m.n, m.sum
	for _, s := range spans {
		j, ok := m.find(s.key(text), a)
		if !ok {
			j = -1
		}
		at = append(at, j)
		removal := bytes.Equal(s.val(text), null)
		klen, vlen := int(s.k1-s.k0), int(s.v1-s.v0)
		if ok {
			old := m.members[j]
			sum -= int(old.k1-old.k0) + 1 + int(old.v1-old.v0)
			if removal {
				n--
			} else {
				sum += klen + 1 + vlen
			}
		} else if !removal {
			n++
			sum += klen + 1 + vlen
		}
	}
	if e := m.bound(n, 2+sum+max(0, n-1), kind, id); e != nil {
		return false, e
	}
	if len(spans) == 0 {
		return false, nil
	}
	t := a.text(text)
	// The keys of spans are distinct, so adding one moves no other.
	m.grow(max(0, n-m.n), a)
	for i, s := range spans {
		j, mb := at[i], entry{t, t, s.k0, s.k1, s.v0, s.v1}
		switch {
		case bytes.Equal(s.val(text), null):
			if j >= 0 {
				changed = true
				m.replace(j, mb, true, a)
			}
		case j >= 0:
			changed = changed || !sameValue(a.val(m.members[j]), s.val(text))
			m.replace(j, mb, false, a)
		default:
			changed = true
			m.grow(1, a)
			m.push(mb, a)
		}
	}
	return changed, nil
}

// bound says why a merge that leaves n members making size bytes of
// JSON cannot be applied to m, or nil: over MaxProfileKeys or
// MaxProfileBytes, unless it shrinks a profile that is over already.
func (m *metadataState) bound(n, size int, kind, id string) *RecordError {
	switch {
	case n > MaxProfileKeys && n > m.n:
		return &RecordError{Code: RProfileTooLarge, Message: fmt.Sprintf(
			"applying this record would leave %s %q with %d metadata keys; a profile may hold at most %d (it holds %d). Send null for keys it no longer needs to remove them",
			kind, id, n, MaxProfileKeys, m.n)}
	case size > MaxProfileBytes && size > m.size():
		return &RecordError{Code: RProfileTooLarge, Message: fmt.Sprintf(
			"applying this record would make the metadata of %s %q %d bytes; a profile may hold at most %d bytes (1 MiB) of metadata (it holds %d). Send null for keys it no longer needs to remove them",
			kind, id, size, MaxProfileBytes, m.size())}
	}
	return nil
}

// materialize turns m's fresh patch into members, for a record after it
// to merge into.
func (m *metadataState) materialize(a *arena) {
	var buf [32]span
	spans, _ := flatMembers(buf[:0], m.fresh)
	t := a.text(m.fresh)
	fresh := m.fresh
	m.fresh, m.n, m.sum = nil, 0, 0
	m.members = a.take(len(spans) + spare)
	for _, s := range spans {
		if !bytes.Equal(s.val(fresh), null) {
			m.push(entry{t, t, s.k0, s.k1, s.v0, s.v1}, a)
		}
	}
}

// lastOfEach returns the members spans of text without those a later
// one of the same key overrides, in place, keeping the order of the
// others.
func lastOfEach(text []byte, spans []span) []span {
	last := make(map[string]int, len(spans))
	for i, s := range spans {
		last[string(s.key(text))] = i
	}
	kept := spans[:0]
	for i, s := range spans {
		if last[string(s.key(text))] == i {
			kept = append(kept, s)
		}
	}
	return kept
}

// sameValue reports whether two JSON primitives, one as stored and one as
// sent, are the same value though their text may differ: PostgreSQL
// writes jsonb numbers and string escapes its own way (1e2 as 100, \u0008
// as \b), so that sending back what is stored is no change on either store.
func sameValue(stored, sent []byte) bool {
	if bytes.Equal(stored, sent) {
		return true
	}
	if len(stored) == 0 || len(sent) == 0 {
		return false
	}
	switch a, b := stored[0], sent[0]; {
	case a == '"' && b == '"':
		if bytes.IndexByte(stored, '\\') < 0 && bytes.IndexByte(sent, '\\') < 0 {
			return false
		}
		x, err1 := fastjson.ParseBytes(stored)
		y, err2 := fastjson.ParseBytes(sent)
		return err1 == nil && err2 == nil && bytes.Equal(x.GetStringBytes(), y.GetStringBytes())
	case (a == '-' || a >= '0' && a <= '9') && (b == '-' || b >= '0' && b <= '9'):
		// Numbers keep digits beyond a float64's precision, so they are
		// compared exactly. Plain integers (no fraction, exponent,
		// leading zero or minus zero) that differ in text differ in value.
		if plainInt(stored) && plainInt(sent) {
			return false
		}
		x, ok1 := new(big.Rat).SetString(string(stored))
		y, ok2 := new(big.Rat).SetString(string(sent))
		return ok1 && ok2 && x.Cmp(y) == 0
	}
	return false
}

// plainInt reports whether b is an integer written in the one way
// JSON allows for its value.
func plainInt(b []byte) bool {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || (d[0] == '0' && (len(d) > 1 || len(b) > 1)) {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// appendJSON appends the members to buf as a compact JSON object, in
// order: the stored ones first, new ones after in the order they came. It
// returns buf and the object, whose capacity ends where it does.
func (m *metadataState) appendJSON(buf []byte, a *arena) (_, obj []byte) {
	if m.fresh != nil && !m.freshNulls {
		return buf, m.fresh
	}
	start := len(buf)
	if m.fresh != nil {
		var sb [32]span
		spans, _ := flatMembers(sb[:0], m.fresh)
		buf = append(buf, '{')
		for _, s := range spans {
			if bytes.Equal(s.val(m.fresh), null) {
				continue
			}
			if len(buf) > start+1 {
				buf = append(buf, ',')
			}
			buf = append(buf, m.fresh[s.k0:s.v1]...) // "key":value
		}
		buf = append(buf, '}')
		return buf, buf[start:len(buf):len(buf)]
	}
	buf = append(buf, '{')
	for _, mb := range m.members {
		if mb.ks < 0 {
			continue
		}
		if len(buf) > start+1 {
			buf = append(buf, ',')
		}
		buf = append(buf, a.key(mb)...)
		buf = append(buf, ':')
		buf = append(buf, a.val(mb)...)
	}
	buf = append(buf, '}')
	return buf, buf[start:len(buf):len(buf)]
}

// RejectedError is the error of a real-time identify whose records
// include one ApplyRecords rejected (EINVALIDRECORD, with the record error
// code as details), or nil.
func RejectedError(a *Applied) error {
	if len(a.Rejected) == 0 {
		return nil
	}
	e := a.Rejected[0]
	return &Error{Code: EINVALIDRECORD, Message: e.Message, Details: e.Code}
}
