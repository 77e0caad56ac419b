package partition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// goldenCase is one case of a testdata/*.json file, in the format of
// docs/PROTOCOL.md, "Golden vectors".
type goldenCase struct {
	Name     string `json:"name"`
	Assignor string `json:"assignor"`
	Members  []struct {
		ID           string         `json:"id"`
		Subscription map[string]int `json:"subscription"`
	} `json:"members"`
	Topics     Topics            `json:"topics"`
	Previous   map[string]string `json:"previous"`
	Expected   *Assignment       `json:"expected"`
	Properties []string          `json:"properties"`
}

func (c goldenCase) input() (Input, error) {
	in := Input{Topics: c.Topics}
	for _, m := range c.Members {
		in.Members = append(in.Members, Member{ID: m.ID, Subscription: m.Subscription})
	}
	if len(c.Previous) > 0 {
		in.Previous = make(map[TopicPartition]string, len(c.Previous))
		for k, owner := range c.Previous {
			tp, err := ParseTopicPartition(k)
			if err != nil {
				return Input{}, err
			}
			in.Previous[tp] = owner
		}
	}
	return in, nil
}

// normalize drops empty lists and owners and sorts lists, so that
// assignments compare as sets.
func normalize(a Assignment) Assignment {
	out := Assignment{}
	for owner, byTopic := range a {
		for topic, parts := range byTopic {
			for _, p := range parts {
				out.add(owner, topic, p)
			}
		}
	}
	for _, byTopic := range out {
		for topic, parts := range byTopic {
			slices.Sort(parts)
			byTopic[topic] = slices.Compact(parts)
		}
	}
	return out
}

func loadGolden(t *testing.T) map[string][]goldenCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.json files")
	}
	out := make(map[string][]goldenCase)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var cases []goldenCase
		if err := dec.Decode(&cases); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out[filepath.Base(file)] = cases
	}
	return out
}

func TestGolden(t *testing.T) {
	perAssignor := make(map[string]int)
	for file, cases := range loadGolden(t) {
		for i, c := range cases {
			label := fmt.Sprintf("%s[%d] %q (%s)", file, i, c.Name, c.Assignor)
			perAssignor[c.Assignor]++
			if err := checkGolden(c); err != nil {
				t.Errorf("%s: %v", label, err)
			}
		}
	}
	for _, name := range Names() {
		if perAssignor[name] == 0 {
			t.Errorf("no golden case for assignor %q", name)
		}
		t.Logf("%-22s %d golden cases", name, perAssignor[name])
	}
}

func checkGolden(c goldenCase) error {
	a, err := Lookup(c.Assignor)
	if err != nil {
		return err
	}
	in, err := c.input()
	if err != nil {
		return err
	}
	got, err := a.Assign(in)
	if err != nil {
		return fmt.Errorf("Assign: %v", err)
	}
	if err := checkValid(c.Assignor, in, got); err != nil {
		return fmt.Errorf("invalid result %v: %v", got, err)
	}
	if c.Expected == nil && len(c.Properties) == 0 {
		return fmt.Errorf("case has neither expected nor properties")
	}
	if c.Expected != nil {
		if want, have := normalize(*c.Expected), normalize(got); !reflect.DeepEqual(want, have) {
			return fmt.Errorf("\n got: %v\nwant: %v", have, want)
		}
	}
	for _, p := range c.Properties {
		switch p {
		case "complete":
			// checkValid above.
		case "balanced":
			if err := checkBalancedOverall(c.Assignor, in, got); err != nil {
				return fmt.Errorf("not balanced: %v", err)
			}
		case "min-moves":
			if moved, bound := minMoves(in, got); moved != bound {
				return fmt.Errorf("moved %d partitions, minimum is %d: %v", moved, bound, got)
			}
		default:
			return fmt.Errorf("unknown property %q", p)
		}
	}
	return nil
}
