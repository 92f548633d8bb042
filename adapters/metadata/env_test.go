package metadata

import (
	"testing"

	"github.com/gcftrace/gcftrace/ports"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestBase(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		cfg  Config
		want ports.Environment
	}{
		{
			name: "gen2",
			give: map[string]string{"K_SERVICE": "hello", "K_REVISION": "hello-00002-xyz", "K_CONFIGURATION": "hello", "FUNCTION_TARGET": "Hello", "FUNCTION_SIGNATURE_TYPE": "http"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello", Revision: "hello-00002-xyz", Configuration: "hello", EntryPoint: "Hello", SignatureType: "http"},
		},
		{
			name: "gen1 newer runtime",
			give: map[string]string{"K_SERVICE": "hello", "K_REVISION": "3", "FUNCTION_TARGET": "Hello", "FUNCTION_SIGNATURE_TYPE": "event"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen1, Function: "hello", Revision: "3", EntryPoint: "Hello", SignatureType: "event"},
		},
		{
			name: "gen1 legacy",
			give: map[string]string{"FUNCTION_NAME": "legacy", "FUNCTION_REGION": "us-central1", "GCP_PROJECT": "p1", "FUNCTION_MEMORY_MB": "256", "ENTRY_POINT": "Legacy"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen1, Function: "legacy", Region: "us-central1", ProjectID: "p1", MemoryMB: 256, EntryPoint: "Legacy"},
		},
		{
			name: "gen1 legacy region only",
			give: map[string]string{"FUNCTION_REGION": "us-central1", "GCLOUD_PROJECT": "p2"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen1, Region: "us-central1", ProjectID: "p2"},
		},
		{
			name: "cloud run service",
			give: map[string]string{"K_SERVICE": "api", "K_REVISION": "api-1", "K_CONFIGURATION": "api"},
			want: ports.Environment{Platform: ports.PlatformCloudRunService, Function: "api", Revision: "api-1", Configuration: "api"},
		},
		{
			name: "cloud run job: an execution is no revision",
			give: map[string]string{"CLOUD_RUN_JOB": "nightly", "CLOUD_RUN_EXECUTION": "nightly-abc", "CLOUD_RUN_TASK_INDEX": "0"},
			want: ports.Environment{Platform: ports.PlatformCloudRunJob, Function: "nightly"},
		},
		// Legacy 1st gen variables, left over or set by the user, do not
		// make a newer platform 1st gen.
		{
			name: "cloud run job with FUNCTION_REGION",
			give: map[string]string{"CLOUD_RUN_JOB": "nightly", "FUNCTION_REGION": "us-central1"},
			want: ports.Environment{Platform: ports.PlatformCloudRunJob, Function: "nightly", Region: "us-central1"},
		},
		{
			name: "cloud run job with FUNCTION_NAME",
			give: map[string]string{"CLOUD_RUN_JOB": "nightly", "FUNCTION_NAME": "other"},
			want: ports.Environment{Platform: ports.PlatformCloudRunJob, Function: "nightly"},
		},
		{
			name: "cloud run service with ENTRY_POINT",
			give: map[string]string{"K_SERVICE": "api", "K_REVISION": "api-1", "K_CONFIGURATION": "api", "ENTRY_POINT": "Main"},
			want: ports.Environment{Platform: ports.PlatformCloudRunService, Function: "api", Revision: "api-1", Configuration: "api", EntryPoint: "Main"},
		},
		{
			name: "cloud run service with FUNCTION_REGION",
			give: map[string]string{"K_SERVICE": "api", "K_CONFIGURATION": "api", "FUNCTION_REGION": "us-east1"},
			want: ports.Environment{Platform: ports.PlatformCloudRunService, Function: "api", Configuration: "api", Region: "us-east1"},
		},
		{
			name: "gen2 with FUNCTION_NAME",
			give: map[string]string{"K_SERVICE": "hello", "K_REVISION": "hello-00002-xyz", "K_CONFIGURATION": "hello", "FUNCTION_TARGET": "Hello", "FUNCTION_NAME": "legacy"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello", Revision: "hello-00002-xyz", Configuration: "hello", EntryPoint: "Hello"},
		},
		{
			name: "gen2 with every legacy variable",
			give: map[string]string{"K_SERVICE": "hello", "K_CONFIGURATION": "hello", "FUNCTION_TARGET": "Hello", "FUNCTION_NAME": "legacy", "ENTRY_POINT": "Legacy", "FUNCTION_REGION": "us-east1"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello", Configuration: "hello", EntryPoint: "Hello", Region: "us-east1"},
		},
		{
			name: "gen1 newer runtime with FUNCTION_REGION",
			give: map[string]string{"K_SERVICE": "hello", "FUNCTION_TARGET": "Hello", "FUNCTION_REGION": "us-east1"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen1, Function: "hello", EntryPoint: "Hello", Region: "us-east1"},
		},
		// No ports.Platform fits a worker pool: not detected, named, and
		// never taken for 1st gen.
		{
			name: "cloud run worker pool",
			give: map[string]string{"CLOUD_RUN_WORKER_POOL": "pullers"},
			want: ports.Environment{Function: "pullers"},
		},
		{
			name: "cloud run worker pool with legacy variables",
			give: map[string]string{"CLOUD_RUN_WORKER_POOL": "pullers", "FUNCTION_NAME": "legacy", "ENTRY_POINT": "Legacy", "FUNCTION_REGION": "us-east1"},
			want: ports.Environment{Function: "pullers", EntryPoint: "Legacy", Region: "us-east1"},
		},
		{
			name: "local functions framework run",
			give: map[string]string{"FUNCTION_TARGET": "Hello"},
			want: ports.Environment{EntryPoint: "Hello"},
		},
		{
			name: "project precedence",
			give: map[string]string{"K_SERVICE": "s", "K_CONFIGURATION": "s", "GOOGLE_CLOUD_PROJECT": "a", "GCP_PROJECT": "b", "GCLOUD_PROJECT": "c"},
			want: ports.Environment{Platform: ports.PlatformCloudRunService, Function: "s", Configuration: "s", ProjectID: "a"},
		},
		{
			name: "config wins",
			give: map[string]string{"K_SERVICE": "hello", "K_CONFIGURATION": "hello", "FUNCTION_TARGET": "Hello", "GOOGLE_CLOUD_PROJECT": "env-project", "FUNCTION_REGION": "us-east1", "FUNCTION_MEMORY_MB": "128"},
			cfg:  Config{ProjectID: "user-project", Region: "europe-west3", Function: "mine", MemoryMB: 512},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "mine", Configuration: "hello", EntryPoint: "Hello", ProjectID: "user-project", Region: "europe-west3", MemoryMB: 512},
		},
		{
			name: "bad memory is absent",
			give: map[string]string{"K_SERVICE": "hello", "K_CONFIGURATION": "hello", "FUNCTION_TARGET": "Hello", "FUNCTION_MEMORY_MB": "lots"},
			want: ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello", Configuration: "hello", EntryPoint: "Hello"},
		},
		{
			name: "nothing",
			want: ports.Environment{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := base(tt.cfg, getenv(tt.give)); got != tt.want {
				t.Errorf("base() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{}.withDefaults()
	want := NewDefaultConfig()
	if got.Timeout != want.Timeout || got.Retries != want.Retries || got.RetryDelay != want.RetryDelay {
		t.Errorf("Config{}.withDefaults() = %+v, want the defaults %+v", got, want)
	}
	// A huge count or delay must not turn into retries for the instance's
	// life, nor overflow the doubling delay (rand.N panics on a negative
	// bound).
	big := Config{Retries: 1 << 40, RetryDelay: 1 << 62}.withDefaults()
	if big.Retries != MaxRetries || big.RetryDelay != maxRetryDelay {
		t.Errorf("Config{Retries: 1<<40, RetryDelay: 1<<62}.withDefaults() = %+v, want them capped", big)
	}
	if got := (Config{Retries: -1}).withDefaults().Retries; got != 0 {
		t.Errorf("Retries: -1 gives %d retries, want 0", got)
	}
	if err := NewDefaultConfig().Validate(); err != nil {
		t.Errorf("NewDefaultConfig().Validate() = %v", err)
	}
	err := Config{MemoryMB: -1, Timeout: -1, RetryDelay: -1}.Validate()
	if err == nil {
		t.Fatal("Validate accepted negative fields")
	}
	const want3 = "metadata: memory mb: must be >= 0, got -1\ntimeout: must be >= 0, got -1ns\nretry delay: must be >= 0, got -1ns"
	if err.Error() != want3 {
		t.Errorf("Validate() = %q, want %q", err, want3)
	}
}
