package zkformat

import "testing"

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"version":1,"mode":"kafka"}`, "kafka", true},
		{`{"version":1,"mode":"zookeeper"}`, "zookeeper", true},
		{`{"version":2,"mode":"kafka","extra":true}`, "kafka", true},
		{`{"mode":"kafka"}`, "", false},
		{`{"version":1,"mode":"KAFKA"}`, "", false},
		{`{"version":1}`, "", false},
		{`kafka`, "", false},
		{``, "", false},
	} {
		got, err := ParseMode([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, m := range []string{ModeZooKeeper, ModeKafka} {
		if got, err := ParseMode(EncodeMode(m)); err != nil || got != m {
			t.Errorf("round trip %s: %q %v", m, got, err)
		}
	}
	if got := string(EncodeMode(ModeKafka)); got != `{"version":1,"mode":"kafka"}` {
		t.Errorf("EncodeMode = %s", got)
	}
	data := EncodeFollower(ModeKafka, "consumer-1-abc")
	if string(data) != `{"version":1,"mode":"kafka","kafka_member_id":"consumer-1-abc"}` {
		t.Errorf("EncodeFollower = %s", data)
	}
	if m, id, err := ParseFollower(data); m != ModeKafka || id != "consumer-1-abc" || err != nil {
		t.Errorf("ParseFollower = %q %q %v", m, id, err)
	}
	if _, _, err := ParseFollower([]byte(`{"version":1,"mode":"x","kafka_member_id":"a"}`)); err == nil {
		t.Error("ParseFollower accepted an unknown mode")
	}
}
