package cli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/zkbalance/zkbalance/internal/cli"
)

func testApp() *cli.App {
	return &cli.App{
		Name:    "tool",
		Summary: "tool: does things",
		Commands: []cli.Command{
			{Name: "hello", Summary: "greet", Help: cli.Help{Usage: "tool hello [--name N]", Description: "Greets.", Examples: "tool hello --name x"},
				Run: func(_ context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
					name := fs.String("name", "world", "who")
					if err := cli.Parse(fs, args); err != nil {
						return err
					}
					switch *name {
					case "":
						return cli.Usagef("--name must not be empty")
					case "fail":
						return errors.Join(errors.New("first"), errors.New("second"))
					}
					fmt.Fprintf(stdout, "hello %s\n", *name)
					return nil
				}},
		},
	}
}

func TestAppMain(t *testing.T) {
	for _, tc := range []struct {
		args               []string
		code               int
		stdout, stderrLine string
	}{
		{[]string{"hello"}, 0, "hello world\n", ""},
		{[]string{"hello", "--name", "x"}, 0, "hello x\n", ""},
		{[]string{"hello", "--name", ""}, 2, "", "tool hello: usage: --name must not be empty"},
		{[]string{"hello", "--bogus"}, 2, "", "tool hello: usage: flag provided but not defined: -bogus (see --help)"},
		{[]string{"hello", "stray"}, 2, "", `tool hello: usage: unexpected arguments ["stray"]`},
		{[]string{"hello", "--name", "fail"}, 1, "", "tool hello: first; second"},
		{[]string{"nope"}, 2, "", `tool: unknown command "nope" (run 'tool help')`},
	} {
		var out, errb bytes.Buffer
		code := testApp().Main(context.Background(), tc.args, &out, &errb)
		if code != tc.code || out.String() != tc.stdout || strings.TrimSuffix(errb.String(), "\n") != tc.stderrLine {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderrLine)
		}
	}
	var out, errb bytes.Buffer
	if code := testApp().Main(context.Background(), nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: tool <command>") {
		t.Errorf("no args: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := testApp().Main(context.Background(), []string{"help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "hello  greet") {
		t.Errorf("help: exit %d, stdout %q", code, out.String())
	}
}

// TestHelp: --help (and 'help <command>') prints the usage, description,
// examples and flags to stdout and exits 0.
func TestHelp(t *testing.T) {
	// Parse writes --help to os.Stdout: capture it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	var codes []int
	for _, args := range [][]string{{"hello", "--help"}, {"help", "hello"}} {
		codes = append(codes, testApp().Main(context.Background(), args, io.Discard, io.Discard))
	}
	os.Stdout = saved
	w.Close()
	b, _ := io.ReadAll(r)
	want := "usage: tool hello [--name N]\n\nGreets.\n\nexamples:\n  tool hello --name x\n\nflags:\n  -name string\n    \twho (default \"world\")\n"
	if codes[0] != 0 || codes[1] != 0 || string(b) != want+want {
		t.Errorf("exit %v, stdout:\n%s\nwant twice:\n%s", codes, b, want)
	}
}

func ExampleApp() {
	app := cli.App{Name: "tool", Summary: "tool: an example", Commands: []cli.Command{{
		Name: "greet", Summary: "say hello", Help: cli.Help{Usage: "tool greet [--name N]"},
		Run: func(_ context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			name := fs.String("name", "world", "who to greet")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "hello %s\n", *name)
			return nil
		},
	}}}
	code := app.Main(context.Background(), []string{"greet", "--name", "zk"}, os.Stdout, os.Stderr)
	fmt.Println("exit", code)
	// Output:
	// hello zk
	// exit 0
}
