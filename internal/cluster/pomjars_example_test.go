package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// A peer resolves its own client jars (here an old Kafka client) into the
// harness cache once per machine, and runs java with -cp '<dir>/*'.
func ExamplePomJars() {
	pom := []byte(`<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId><artifactId>peer</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>2.8.2</version></dependency>
  </dependencies>
</project>`)
	cacheDir, err := cluster.CacheDir()
	if err != nil {
		fmt.Println(err)
		return
	}
	libs, err := cluster.PomJars(context.Background(), cacheDir, pom, "example-libs-")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("java -cp", filepath.Join(libs, "*"))
}
