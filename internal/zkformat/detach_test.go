package zkformat

import "testing"

func TestParseCoordination(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CoordinationState
		ok   bool
	}{
		{`{"version":1,"mode":"kafka"}`, CoordinationState{Mode: ModeKafka}, true},
		{`{"version":1,"mode":"zookeeper"}`, CoordinationState{Mode: ModeZooKeeper}, true},
		{`{"version":1,"mode":"kafka","zookeeper":"detached"}`, CoordinationState{Mode: ModeKafka, Detached: true}, true},
		{`{"version":1,"mode":"kafka","zookeeper":""}`, CoordinationState{Mode: ModeKafka}, true},
		{`{"version":2,"mode":"kafka","zookeeper":"detached","extra":1}`, CoordinationState{Mode: ModeKafka, Detached: true}, true},
		{`{"version":1,"mode":"zookeeper","zookeeper":"detached"}`, CoordinationState{}, false},
		{`{"version":1,"mode":"kafka","zookeeper":"DETACHED"}`, CoordinationState{}, false},
		{`{"version":1,"mode":"kafka","zookeeper":"attached"}`, CoordinationState{}, false},
		{`{"version":1,"mode":"kafka","zookeeper":true}`, CoordinationState{}, false},
		{`{"version":1,"mode":"detached"}`, CoordinationState{}, false},
		{`{"mode":"kafka","zookeeper":"detached"}`, CoordinationState{}, false},
		{``, CoordinationState{}, false},
	} {
		got, err := ParseCoordination([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseCoordination(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestEncodeCoordination(t *testing.T) {
	for _, s := range []CoordinationState{{Mode: ModeZooKeeper}, {Mode: ModeKafka}, {Mode: ModeKafka, Detached: true}} {
		data := EncodeCoordination(s)
		if got, err := ParseCoordination(data); err != nil || got != s {
			t.Errorf("ParseCoordination(EncodeCoordination(%+v)) = %+v, %v", s, got, err)
		}
	}
	if got := string(EncodeCoordination(CoordinationState{Mode: ModeKafka, Detached: true})); got != `{"version":1,"mode":"kafka","zookeeper":"detached"}` {
		t.Errorf("EncodeCoordination(detached) = %s", got)
	}
	if got, want := string(EncodeCoordination(CoordinationState{Mode: ModeKafka})), string(EncodeMode(ModeKafka)); got != want {
		t.Errorf("EncodeCoordination(kafka) = %s, EncodeMode = %s", got, want)
	}
	// A follow member that predates detaching reads a detached value as
	// plain kafka mode: it stays in the Kafka group.
	if m, err := ParseMode(EncodeCoordination(CoordinationState{Mode: ModeKafka, Detached: true})); err != nil || m != ModeKafka {
		t.Errorf("ParseMode(detached) = %q, %v; want kafka", m, err)
	}
	if got := (CoordinationState{Mode: ModeKafka, Detached: true}).String(); got != "kafka (zookeeper detached)" {
		t.Errorf("String = %q", got)
	}
}
