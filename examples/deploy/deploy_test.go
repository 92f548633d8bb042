package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mainTemplate is the main package the Cloud Functions Go buildpack
// generates, in functions.local/app of the function's module, for a
// function that registers itself with the Functions Framework (its
// "declarative" template); %s is the function's package.
const mainTemplate = `// Binary main file implements an HTTP server that loads and runs user's code
// on incoming HTTP requests.
package main

import (
	"log"
	"net/http"
	"os"

	_ %q

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

func main() {
	http.HandleFunc("/robots.txt", http.NotFound)
	http.HandleFunc("/favicon.ico", http.NotFound)

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("Function failed to start: %%v\n", err)
	}
}
`

// TestStage stages each deployable example and builds it as Cloud Build
// would, offline: go build and go vet with -mod=vendor, no proxy and an
// empty module cache, then the buildpack's main package, which it runs and
// sends the function a request.
func TestStage(t *testing.T) {
	examples, err := examplesDir(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	order := base64.StdEncoding.EncodeToString([]byte(`{"id":"o-1","items":3}`))
	tests := []struct {
		give       string
		method     string
		target     string
		header     map[string]string
		body       string
		wantStatus int
		wantBody   string
	}{
		{
			give:   "hello",
			method: http.MethodGet, target: "/?name=Gopher",
			wantStatus: http.StatusOK, wantBody: "Hello, Gopher!\n",
		},
		{
			give:   "pubsub",
			method: http.MethodPost, target: "/",
			header: map[string]string{
				"Ce-Specversion": "1.0",
				"Ce-Type":        "google.cloud.pubsub.topic.v1.messagePublished",
				"Ce-Source":      "//pubsub.googleapis.com/projects/demo/topics/orders",
				"Ce-Id":          "1",
				"Content-Type":   "application/json",
			},
			body:       `{"message":{"data":"` + order + `","messageId":"1"},"subscription":"projects/demo/subscriptions/orders"}`,
			wantStatus: http.StatusOK,
		},
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		tested[tt.give] = true
		// One after the other: with -trimpath, the second builds the
		// vendored packages the first compiled from the cache.
		t.Run(tt.give, func(t *testing.T) {
			fn := functions[tt.give]
			dir := t.TempDir()
			s, err := stage(t.Context(), examples, tt.give, dir, []string{"GOPROXY=off"})
			if err != nil {
				t.Fatal(err)
			}
			if err := filepath.WalkDir(filepath.Join(dir, libraryCopy), func(path string, d fs.DirEntry, err error) error {
				if err == nil && (d.Name() == "testdata" || strings.HasSuffix(d.Name(), "_test.go")) {
					t.Errorf("staged library holds %s", path)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}

			modCache := t.TempDir()
			offline := []string{"GOFLAGS=-mod=vendor -trimpath", "GOPROXY=off", "GOWORK=off", "GOMODCACHE=" + modCache}
			mainDir := filepath.Join(dir, "functions.local", "app")
			if err := os.MkdirAll(mainDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mainDir, "main.go"), fmt.Appendf(nil, mainTemplate, s.module), 0o644); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(t.TempDir(), "app")
			for _, args := range [][]string{
				{"build", "./..."},
				{"vet", "./..."},
				{"build", "-o", bin, "./functions.local/app"},
			} {
				if _, err := goCmd(t.Context(), dir, offline, args...); err != nil {
					t.Fatal(err)
				}
			}
			// The buildpack's checks before it generates main.
			if got, err := goCmd(t.Context(), dir, offline, "list", "-m"); err != nil || strings.TrimSpace(got) != s.module {
				t.Errorf("go list -m = %q, %v; want %s", got, err, s.module)
			}
			if got, err := goCmd(t.Context(), dir, offline, "list", "-m", "-f", "{{.Version}}", "github.com/GoogleCloudPlatform/functions-framework-go"); err != nil || !strings.HasPrefix(got, "v1.") {
				t.Errorf("functions-framework-go version = %q, %v; want v1.x", got, err)
			}
			if entries, err := os.ReadDir(modCache); err != nil || len(entries) > 0 {
				t.Errorf("module cache after offline build: %v, %v; want it empty", entries, err)
			}

			url, logs := serve(t, bin, fn.entryPoint)
			req, err := http.NewRequestWithContext(t.Context(), tt.method, url+tt.target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("%s %s = %d %q, want %d %q\nfunction's log:\n%s", tt.method, tt.target, resp.StatusCode, body, tt.wantStatus, tt.wantBody, logs)
			}
		})
	}
	for name := range functions {
		if !tested[name] {
			t.Errorf("no test stages %s", name)
		}
	}
}

// serve runs the function binary as Cloud Functions would, with only
// FUNCTION_TARGET and PORT set, and returns its URL once it answers.
func serve(t *testing.T, bin, target string) (string, *bytes.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"FUNCTION_TARGET=" + target, "PORT=" + port, "LOCAL_ONLY=true"}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(url + "/robots.txt")
		if err == nil {
			resp.Body.Close()
			return url, &logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("function not serving on %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestREADME checks that each example's README shows the command deploy
// prints, and how to run deploy.
func TestREADME(t *testing.T) {
	examples, err := examplesDir(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ex, err := readModFile(t.Context(), examples)
	if err != nil {
		t.Fatal(err)
	}
	runtime, err := runtimeFor(ex.Go)
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range functions {
		t.Run(name, func(t *testing.T) {
			readme, err := os.ReadFile(filepath.Join(examples, name, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"go run ./deploy " + name + "\n",
				formatCommand(deployArgs(fn, "<staged-dir>", runtime, defaultParams())) + "\n",
			} {
				if !bytes.Contains(readme, []byte(want)) {
					t.Errorf("%s/README.md lacks\n%s", name, want)
				}
			}
		})
	}
}

func TestRunRefusesPlaceholders(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := run(t.Context(), []string{"-run", "-dt-token-secret=dt-token", "hello"}, &stdout, &stderr); got != 2 {
		t.Errorf("run -run without -dt-url = %d, want 2", got)
	}
	if stdout.Len() > 0 || !strings.Contains(stderr.String(), "-dt-url") {
		t.Errorf("stdout %q, stderr %q; want nothing and a word on -dt-url", stdout.String(), stderr.String())
	}
}

func TestRunUnknownExample(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := run(t.Context(), []string{"local"}, &stdout, &stderr); got != 2 {
		t.Errorf("run local = %d, want 2", got)
	}
}

func TestRuntimeFor(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "1.26.0", want: "go126"},
		{give: "1.26", want: "go126"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got, err := runtimeFor(tt.give); got != tt.want || err != nil {
				t.Errorf("runtimeFor(%q) = %q, %v; want %q", tt.give, got, err, tt.want)
			}
		})
	}
}

func TestRuntimeForInvalid(t *testing.T) {
	for _, give := range []string{"", "1", "1."} {
		if got, err := runtimeFor(give); err == nil {
			t.Errorf("runtimeFor(%q) = %q, want an error", give, got)
		}
	}
}

func TestFormatCommand(t *testing.T) {
	got := formatCommand([]string{"functions", "deploy", "f", "--source=my functions", "--x=<placeholder>"})
	want := "gcloud functions deploy f \\\n  '--source=my functions' \\\n  --x=<placeholder>"
	if got != want {
		t.Errorf("formatCommand = %q, want %q", got, want)
	}
}
