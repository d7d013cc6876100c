package seedtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestGenerateGolden pins the generator's output for a tiny seed: a change
// to the generator changes every benchmark seed, so it must be deliberate
// (go test -run TestGenerateGolden -update).
func TestGenerateGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := Generate(&buf, GenConfig{Seed: 1, Customers: 3}); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "generate-seed1-customers3.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("output differs from %s (rerun with -update if intended):\n%s", golden, firstDiff(string(want), buf.String()))
	}
}

// TestGenerateShape checks the structure of generated seeds against
// hand-computed row counts, for several sizes and seeds.
func TestGenerateShape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		c    GenConfig
		want Counts
	}{
		// Products: max(10, customers/100). Orders: 3 per customer.
		// Items: 1 + id%4 for ids 1..orders, i.e. 2,3,4,1 repeating.
		{"one customer", GenConfig{Seed: 1, Customers: 1}, Counts{Customers: 1, Products: 10, Orders: 3, OrderItems: 2 + 3 + 4}},
		{"ten customers", GenConfig{Seed: 7, Customers: 10}, Counts{Customers: 10, Products: 10, Orders: 30, OrderItems: 75}},
		{"two thousand", GenConfig{Seed: 42, Customers: 2000}, Counts{Customers: 2000, Products: 20, Orders: 6000, OrderItems: 15000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.c.Counts(); got != tc.want {
				t.Fatalf("Counts() = %+v, want %+v", got, tc.want)
			}
			var buf bytes.Buffer
			if err := Generate(&buf, tc.c); err != nil {
				t.Fatal(err)
			}
			rows := copyRows(t, buf.String())
			got := Counts{Customers: len(rows["customers"]), Products: len(rows["products"]), Orders: len(rows["orders"]), OrderItems: len(rows["order_items"])}
			if got != tc.want {
				t.Errorf("rows written = %+v, want %+v", got, tc.want)
			}
			fields := map[string]int{"customers": 5, "products": 4, "orders": 4, "order_items": 4}
			for table, lines := range rows {
				for _, line := range lines {
					if n := strings.Count(line, "\t") + 1; n != fields[table] {
						t.Fatalf("%s row %q has %d fields, want %d", table, line, n, fields[table])
					}
				}
			}
		})
	}
}

// TestGenerateDeterministic checks that a config always yields the same
// bytes and that the seed matters.
func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	sum := func(c GenConfig) string {
		h := sha256.New()
		if err := Generate(h, c); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	a, b := sum(GenConfig{Seed: 42, Customers: 500}), sum(GenConfig{Seed: 42, Customers: 500})
	if a != b {
		t.Errorf("same config, different output: %s vs %s", a, b)
	}
	if c := sum(GenConfig{Seed: 43, Customers: 500}); c == a {
		t.Errorf("seeds 42 and 43 gave the same output %s", a)
	}
}

func TestGenerateRejectsNoCustomers(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1} {
		if err := Generate(&bytes.Buffer{}, GenConfig{Customers: n}); err == nil {
			t.Errorf("Customers = %d: no error", n)
		}
	}
}

// copyRows splits generated psql input into the data lines of each COPY
// block, keyed by table.
func copyRows(t *testing.T, sql string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	table := ""
	for _, line := range strings.Split(sql, "\n") {
		switch {
		case strings.HasPrefix(line, "COPY "):
			table = strings.Fields(line)[1]
			rows[table] = nil
		case line == `\.`:
			table = ""
		case table != "":
			rows[table] = append(rows[table], line)
		case line != "" && !strings.HasPrefix(line, "--"):
			t.Fatalf("unexpected line outside COPY: %q", line)
		}
	}
	return rows
}

// FuzzGenerate checks the generator's invariants for any seed and small
// size: every row has its table's fields, ids count up from 1, foreign keys
// point at existing rows, an order's products are distinct, and an item
// costs its product's price.
func FuzzGenerate(f *testing.F) {
	f.Add(uint64(42), uint16(3))
	f.Add(uint64(0), uint16(1))
	f.Add(^uint64(0), uint16(250))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16) {
		c := GenConfig{Seed: seed, Customers: 1 + int(n)%300}
		var buf bytes.Buffer
		if err := Generate(&buf, c); err != nil {
			t.Fatal(err)
		}
		rows := copyRows(t, buf.String())
		want := c.Counts()
		price := map[string]string{}
		for i, r := range rows["products"] {
			f := strings.Split(r, "\t")
			if f[0] != strconv.Itoa(i+1) {
				t.Fatalf("product %d has id %s", i+1, f[0])
			}
			price[f[0]] = f[3]
		}
		for i, r := range rows["orders"] {
			f := strings.Split(r, "\t")
			id, _ := strconv.Atoi(f[0])
			cust, err := strconv.Atoi(f[1])
			if id != i+1 || err != nil || cust < 1 || cust > want.Customers {
				t.Fatalf("order row %q: want id %d and a customer in 1..%d", r, i+1, want.Customers)
			}
			if f[3] != `\N` && f[3] <= f[2] {
				t.Fatalf("order %d shipped %s before placed %s", id, f[3], f[2])
			}
		}
		seen := map[string]bool{}
		for _, r := range rows["order_items"] {
			f := strings.Split(r, "\t")
			order, _ := strconv.Atoi(f[0])
			if order < 1 || order > want.Orders {
				t.Fatalf("item %q: order out of range", r)
			}
			p, ok := price[f[1]]
			if !ok {
				t.Fatalf("item %q: no product %s", r, f[1])
			}
			if f[3] != p {
				t.Fatalf("item %q: price %s, product costs %s", r, f[3], p)
			}
			if key := f[0] + "/" + f[1]; seen[key] {
				t.Fatalf("order %s lists product %s twice", f[0], f[1])
			} else {
				seen[key] = true
			}
		}
		if got := len(rows["order_items"]); got != want.OrderItems {
			t.Fatalf("%d items, want %d", got, want.OrderItems)
		}
	})
}
