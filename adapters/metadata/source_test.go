package metadata_test

import (
	"errors"
	"testing"

	"github.com/gcftrace/gcftrace/adapters/metadata"
	"github.com/gcftrace/gcftrace/ports"
	"github.com/gcftrace/gcftrace/ports/portstest"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSourceConforms(t *testing.T) {
	portstest.TestEnvironmentSource(t, func(*testing.T) ports.EnvironmentSource {
		return metadata.New(metadata.Config{}, metadata.WithGetenv(getenv(map[string]string{
			"K_SERVICE": "hello", "FUNCTION_TARGET": "Hello",
		})))
	})
	portstest.TestEnvironmentSource(t, func(*testing.T) ports.EnvironmentSource {
		return metadata.New(metadata.Config{}, metadata.WithGetenv(getenv(nil)))
	})
}

func TestSourceFromEnv(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		cfg  metadata.Config
		want ports.Environment
	}{
		{
			name: "gen2",
			give: map[string]string{"K_SERVICE": "hello", "K_REVISION": "hello-00002-xyz", "K_CONFIGURATION": "hello", "FUNCTION_TARGET": "Hello", "FUNCTION_SIGNATURE_TYPE": "http"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello", Revision: "hello-00002-xyz", Configuration: "hello", EntryPoint: "Hello", SignatureType: "http"},
		},
		{
			name: "gen1 legacy",
			give: map[string]string{"FUNCTION_NAME": "legacy", "FUNCTION_REGION": "us-central1", "GCP_PROJECT": "p1", "FUNCTION_MEMORY_MB": "256", "ENTRY_POINT": "Legacy"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen1, Function: "legacy", Region: "us-central1", ProjectID: "p1", MemoryMB: 256, EntryPoint: "Legacy"},
		},
		{
			name: "cloud run service",
			give: map[string]string{"K_SERVICE": "api", "K_REVISION": "api-1", "K_CONFIGURATION": "api"},
			want: ports.Environment{Platform: ports.PlatformCloudRunService, Function: "api", Revision: "api-1", Configuration: "api"},
		},
		{
			name: "cloud run job",
			give: map[string]string{"CLOUD_RUN_JOB": "nightly", "CLOUD_RUN_EXECUTION": "nightly-abc"},
			want: ports.Environment{Platform: ports.PlatformCloudRunJob, Function: "nightly", Revision: "nightly-abc"},
		},
		{
			name: "config wins",
			give: map[string]string{"K_SERVICE": "hello", "FUNCTION_TARGET": "Hello", "GOOGLE_CLOUD_PROJECT": "env-project", "FUNCTION_MEMORY_MB": "128"},
			cfg:  metadata.Config{ProjectID: "user-project", Region: "europe-west3", MemoryMB: 512},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello", EntryPoint: "Hello", ProjectID: "user-project", Region: "europe-west3", MemoryMB: 512},
		},
		{
			name: "bad memory is absent",
			give: map[string]string{"K_SERVICE": "hello", "FUNCTION_TARGET": "Hello", "FUNCTION_MEMORY_MB": "lots"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello", EntryPoint: "Hello"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := metadata.New(tt.cfg, metadata.WithGetenv(getenv(tt.give))).Environment(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Environment() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestSourceOffGCP(t *testing.T) {
	env, err := metadata.New(metadata.Config{}, metadata.WithGetenv(getenv(nil))).Environment(t.Context())
	if !errors.Is(err, ports.ErrNotOnGCP) {
		t.Fatalf("err = %v, want ErrNotOnGCP", err)
	}
	if env != (ports.Environment{}) {
		t.Fatalf("env = %+v, want empty", env)
	}
}
