package jvmpeer_test

import (
	"fmt"
	"maps"
	"slices"

	"github.com/zkbalance/zkbalance/internal/jvmpeer"
)

// Parsing the partition lists a member prints.
func ExampleParseCommits() {
	commits, ok := jvmpeer.ParseCommits("t:1=42,t:0=7")
	for _, tp := range slices.SortedFunc(maps.Keys(commits), jvmpeer.CompareTP) {
		fmt.Println(tp, commits[tp])
	}
	_, ok2 := jvmpeer.ParseCommits("t:0=-1")
	fmt.Println(ok, ok2)
	// Output:
	// t:0 7
	// t:1 42
	// true false
}

// The java command a member runs with.
func ExampleCommand() {
	cmd := jvmpeer.Command("/jdk/bin/java", jvmpeer.Classpath("/cache/javapeer-0a1b2c", "/cache/libs"), "Member", []string{"127.0.0.1:9092", "g"})
	fmt.Println(cmd.Args[1:])
	// Output:
	// [-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp /cache/javapeer-0a1b2c:/cache/libs/* Member 127.0.0.1:9092 g]
}
