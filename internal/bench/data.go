package bench

// The generated data of bulkid bench. Everything is a pure function of a
// fixed seed, a record's index and its version, so every run of the
// benchmark sends the same bytes.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"strconv"
)

const dataSeed = 0x6275_6c6b_6964 // "bulkid"

// dataRow is one company record: its id and its metadata object as sent.
type dataRow struct {
	id       string
	metadata []byte
}

var (
	words      = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Soylent", "Cyberdyne", "Tyrell", "Aperture", "Vandelay", "Massive", "Northwind", "Contoso", "Fabrikam", "Litware", "Pied Piper", "Dunder Mifflin"}
	suffixes   = []string{"Robotics", "Labs", "Systems", "Holdings", "Analytics", "Foods", "Logistics", "Media", "Health", "Energy", "Capital", "Software"}
	plans      = []string{"free", "starter", "growth", "pro", "enterprise"}
	industries = []string{"Software", "Financial Services", "Manufacturing", "Retail", "Healthcare", "Education", "Logistics", "Media & Entertainment", "Energy", "Real Estate", "Telecommunications", "Hospitality"}
	countries  = []string{"United States", "Germany", "France", "United Kingdom", "Netherlands", "Spain", "Italy", "Canada", "Brazil", "India", "Japan", "Australia", "Sweden", "Poland"}
	legalForms = []string{"Inc.", "GmbH", "Ltd", "S.A.", "LLC", "B.V.", "AB", "Corp."}
	loremWords = []string{"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim", "minim", "veniam", "quis", "nostrud"}
)

func date(r *rand.Rand, fromYear, years int) string {
	return fmt.Sprintf("%04d-%02d-%02d", fromYear+r.IntN(years), 1+r.IntN(12), 1+r.IntN(28))
}

func dateTime(r *rand.Rand, fromYear, years int) string {
	return fmt.Sprintf("%sT%02d:%02d:%02dZ", date(r, fromYear, years), r.IntN(24), r.IntN(60), r.IntN(60))
}

// jsonObject appends JSON object members; values are ASCII without
// characters that need escaping, so strconv quoting is JSON quoting.
type jsonObject struct {
	b []byte
	n int
}

func (o *jsonObject) key(k string) {
	if o.n == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = strconv.AppendQuote(o.b, k)
	o.b = append(o.b, ':')
}
func (o *jsonObject) str(k, v string) { o.key(k); o.b = strconv.AppendQuote(o.b, v) }
func (o *jsonObject) int(k string, v int) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, int64(v), 10)
}
func (o *jsonObject) float(k string, v float64, prec int) {
	o.key(k)
	o.b = strconv.AppendFloat(o.b, v, 'f', prec, 64)
}
func (o *jsonObject) bool(k string, v bool) { o.key(k); o.b = strconv.AppendBool(o.b, v) }
func (o *jsonObject) null(k string)         { o.key(k); o.b = append(o.b, "null"...) }
func (o *jsonObject) end() []byte           { return append(o.b, '}') }

// companyMetadata is company i's metadata: 14 keys of mixed primitive
// types (strings, integers, decimals, booleans, null, ISO dates and
// times). Version 2 changes seven of the values (plan, seats, mrr, arr,
// health_score, is_paying, last_seen_at) and sets or clears churned_at,
// which the merge turns into a new key or a removed one.
func companyMetadata(i, version int) []byte {
	r := rand.New(rand.NewPCG(dataSeed, uint64(i)))
	w1, w2 := words[r.IntN(len(words))], suffixes[r.IntN(len(suffixes))]
	legal := legalForms[r.IntN(len(legalForms))]
	plan := plans[r.IntN(len(plans))]
	industry := industries[r.IntN(len(industries))]
	country := countries[r.IntN(len(countries))]
	seats := 1 + r.IntN(5000)
	mrr := float64(r.IntN(5_000_000)) / 100
	health := float64(r.IntN(1000)) / 1000
	onTrial := r.IntN(8) == 0
	churned := ""
	if r.IntN(5) == 0 {
		churned = date(r, 2022, 4)
	}
	created := date(r, 2015, 10)
	lastSeen := dateTime(r, 2025, 1)[:19] + fmt.Sprintf(".%03dZ", r.IntN(1000))
	if version == 2 {
		r2 := rand.New(rand.NewPCG(dataSeed+2, uint64(i)))
		plan = plans[(recordIndex(plans, plan)+1+r2.IntN(len(plans)-1))%len(plans)]
		seats += 1 + r2.IntN(50)
		mrr += float64(1+r2.IntN(100_000)) / 100
		health = float64(r2.IntN(1000)) / 1000
		lastSeen = dateTime(r2, 2026, 1)[:19] + fmt.Sprintf(".%03dZ", r2.IntN(1000))
		if churned == "" {
			churned = date(r2, 2026, 1)
		} else {
			churned = ""
		}
	}
	var o jsonObject
	o.b = make([]byte, 0, 384)
	o.str("name", fmt.Sprintf("%s %s %05d %s", w1, w2, i, legal))
	o.str("website", fmt.Sprintf("https://www.%s-%s-%05d.example.com", slug(w1), slug(w2), i))
	o.str("plan", plan)
	o.str("industry", industry)
	o.str("country", country)
	o.int("seats", seats)
	o.float("mrr", mrr, 2)
	o.int("arr", int(mrr*12))
	o.float("health_score", health, 3)
	o.bool("is_paying", plan != "free")
	o.bool("on_trial", onTrial)
	if churned == "" {
		o.null("churned_at")
	} else {
		o.str("churned_at", churned)
	}
	o.str("created_at", created)
	o.str("last_seen_at", lastSeen)
	return o.end()
}

func recordIndex(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return 0
}

func slug(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == ' ':
			b[i] = '-'
		}
	}
	return string(b)
}

// companySet is a 10,000-company data set: the rows and the JSON body
// {"companies":[...]} that carries them.
type companySet struct {
	rows []dataRow
	body []byte
}

// genCompanies makes n companies with ids prefix00000… and metadata
// of the given version.
func genCompanies(prefix string, n, version int) companySet {
	rows := make([]dataRow, n)
	for i := range rows {
		rows[i] = dataRow{id: fmt.Sprintf("%s%05d", prefix, i), metadata: companyMetadata(i, version)}
	}
	return companySet{rows: rows, body: companiesBody(rows)}
}

func companiesBody(rows []dataRow) []byte {
	b := make([]byte, 0, len(rows)*400)
	b = append(b, `{"companies":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"company_id":`...)
		b = strconv.AppendQuote(b, r.id)
		b = append(b, `,"metadata":`...)
		b = append(b, r.metadata...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// ndjsonLine is the length of each line of the upload file, newline
// included: 10,000 lines make 50,000,000 bytes, under the 50 MiB limit.
const ndjsonLine = 5000

// genNDJSON makes the upload file: 10,000 company lines of 100
// metadata keys each (strings, integers, decimals, booleans, dates, times
// and nulls), the last key, "notes", padded so every line is exactly
// ndjsonLine bytes.
func genNDJSON(prefix string) []byte {
	out := make([]byte, 0, 10_000*ndjsonLine)
	for i := range 10_000 {
		r := rand.New(rand.NewPCG(dataSeed+100, uint64(i)))
		var o jsonObject
		o.b = make([]byte, 0, ndjsonLine)
		for k := range 99 {
			name := fmt.Sprintf("field_%02d", k)
			switch k % 8 {
			case 0, 1, 2:
				s := loremWords[r.IntN(len(loremWords))]
				for range 2 + r.IntN(6) {
					s += " " + loremWords[r.IntN(len(loremWords))]
				}
				o.str(name, s)
			case 3:
				o.int(name, r.IntN(1_000_000))
			case 4:
				o.float(name, r.Float64()*10_000, 4)
			case 5:
				o.bool(name, r.IntN(2) == 0)
			case 6:
				o.str(name, date(r, 2000, 26))
			case 7:
				if r.IntN(4) == 0 {
					o.null(name)
				} else {
					o.str(name, dateTime(r, 2020, 6))
				}
			}
		}
		line := append([]byte(nil), `{"company_id":`...)
		line = strconv.AppendQuote(line, fmt.Sprintf("%s%05d", prefix, i))
		line = append(line, `,"metadata":`...)
		line = append(line, o.b...)
		// ,"notes":"…"}} and the newline take 14 bytes around the padding.
		pad := ndjsonLine - len(line) - len(`,"notes":""}}`) - 1
		if pad < 0 {
			panic("bench: an NDJSON line is longer than ndjsonLine")
		}
		notes := make([]byte, pad)
		for j := range notes {
			notes[j] = 'a' + byte((i+j)%26)
			if j%8 == 7 {
				notes[j] = ' '
			}
		}
		line = append(line, `,"notes":"`...)
		line = append(line, notes...)
		line = append(line, "\"}}\n"...)
		out = append(out, line...)
	}
	return out
}

// multipartLen is the size of the multipart/form-data body that holds
// a file of n bytes named filename in the field "file", as the SDK's
// Upload (and curl -F file=@…) sends it: for the report.
func multipartLen(filename string, n int) int {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.CreateFormFile("file", filename)
	mw.Close()
	return buf.Len() + n
}
