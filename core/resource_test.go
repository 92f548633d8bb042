package core_test

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
)

func TestResourceAttributes(t *testing.T) {
	tests := []struct {
		name string
		give ports.Environment
		want map[attribute.Key]any
	}{
		{
			name: "gen2 complete",
			give: ports.Environment{Platform: ports.PlatformFunctionsGen2, ProjectID: "p", Region: "europe-west3", Zone: "europe-west3-1", Function: "hello", Revision: "hello-1", InstanceID: "0087", MemoryMB: 256},
			want: map[attribute.Key]any{
				"cloud.provider": "gcp", "cloud.platform": "gcp_cloud_functions", "cloud.region": "europe-west3",
				"cloud.availability_zone": "europe-west3-1", "cloud.account.id": "p",
				"cloud.resource_id": "//cloudfunctions.googleapis.com/projects/p/locations/europe-west3/functions/hello",
				"faas.id":           "//cloudfunctions.googleapis.com/projects/p/locations/europe-west3/functions/hello",
				"faas.name":         "hello", "faas.version": "hello-1", "faas.instance": "0087", "faas.max_memory": int64(256 << 20),
				"gcp.project.id": "p", "gcp.region": "europe-west3", "gcp.instance.name": "hello",
			},
		},
		{
			name: "cloud run service",
			give: ports.Environment{Platform: ports.PlatformCloudRunService, ProjectID: "p", Region: "us-central1", Function: "api"},
			want: map[attribute.Key]any{
				"cloud.provider": "gcp", "cloud.platform": "gcp_cloud_run", "cloud.region": "us-central1", "cloud.account.id": "p",
				"cloud.resource_id": "//run.googleapis.com/projects/p/locations/us-central1/services/api",
				"faas.id":           "//run.googleapis.com/projects/p/locations/us-central1/services/api",
				"faas.name":         "api", "gcp.project.id": "p", "gcp.region": "us-central1", "gcp.instance.name": "api",
			},
		},
		{
			name: "resource id only when project region and name are known",
			give: ports.Environment{Platform: ports.PlatformFunctionsGen1, Function: "legacy"},
			want: map[attribute.Key]any{
				"cloud.provider": "gcp", "cloud.platform": "gcp_cloud_functions", "faas.name": "legacy", "gcp.instance.name": "legacy",
			},
		},
		{
			name: "gen1 complete",
			give: ports.Environment{Platform: ports.PlatformFunctionsGen1, ProjectID: "p", Region: "us-central1", Function: "legacy", Revision: "3"},
			want: map[attribute.Key]any{
				"cloud.provider": "gcp", "cloud.platform": "gcp_cloud_functions", "cloud.region": "us-central1", "cloud.account.id": "p",
				"cloud.resource_id": "//cloudfunctions.googleapis.com/projects/p/locations/us-central1/functions/legacy",
				"faas.id":           "//cloudfunctions.googleapis.com/projects/p/locations/us-central1/functions/legacy",
				"faas.name":         "legacy", "faas.version": "3", "gcp.project.id": "p", "gcp.region": "us-central1", "gcp.instance.name": "legacy",
			},
		},
		{
			// A 2nd gen function runs as a Cloud Run service and has its
			// K_CONFIGURATION; it is still named as a function.
			name: "gen2 with a configuration",
			give: ports.Environment{Platform: ports.PlatformFunctionsGen2, ProjectID: "p", Region: "us-central1", Function: "hello", Configuration: "hello"},
			want: map[attribute.Key]any{
				"cloud.provider": "gcp", "cloud.platform": "gcp_cloud_functions", "cloud.region": "us-central1", "cloud.account.id": "p",
				"cloud.resource_id": "//cloudfunctions.googleapis.com/projects/p/locations/us-central1/functions/hello",
				"faas.id":           "//cloudfunctions.googleapis.com/projects/p/locations/us-central1/functions/hello",
				"faas.name":         "hello", "gcp.project.id": "p", "gcp.region": "us-central1", "gcp.instance.name": "hello",
			},
		},
		{
			name: "cloud run job has no resource id",
			give: ports.Environment{Platform: ports.PlatformCloudRunJob, ProjectID: "p", Region: "us-central1", Function: "nightly"},
			want: map[attribute.Key]any{
				"cloud.provider": "gcp", "cloud.platform": "gcp_cloud_run", "cloud.region": "us-central1", "cloud.account.id": "p",
				"faas.name": "nightly", "gcp.project.id": "p", "gcp.region": "us-central1", "gcp.instance.name": "nightly",
			},
		},
		{
			name: "not on gcp",
			give: ports.Environment{},
			want: map[attribute.Key]any{},
		},
		{
			// A local run with GOOGLE_CLOUD_PROJECT set: the metadata Source
			// answers ErrNotOnGCP, and nothing claims Google Cloud.
			name: "project id without a platform",
			give: ports.Environment{ProjectID: "p", Function: "hello"},
			want: map[attribute.Key]any{"faas.name": "hello"},
		},
		{
			// A local run against a metadata emulator: everything but the
			// platform is known.
			name: "everything but the platform",
			give: ports.Environment{ProjectID: "p", Region: "europe-west3", Zone: "europe-west3-1", Function: "hello", Revision: "1", InstanceID: "0087", MemoryMB: 128},
			want: map[attribute.Key]any{"faas.name": "hello", "faas.version": "1", "faas.instance": "0087", "faas.max_memory": int64(128 << 20)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[attribute.Key]any{}
			for _, kv := range core.ResourceAttributes(tt.give) {
				got[kv.Key] = kv.Value.AsInterface()
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected %s = %v", k, got[k])
				}
			}
		})
	}
}

func TestNewResourceServiceName(t *testing.T) {
	env := ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello"}
	tests := []struct {
		name string
		give core.Config
		want string
	}{
		{name: "function name by default", give: core.NewDefaultConfig(), want: "hello"},
		{name: "OTEL_SERVICE_NAME wins", give: func() core.Config {
			c := core.NewDefaultConfig()
			c.ServiceName = "checkout"
			c.ResourceAttributes = []attribute.KeyValue{attribute.String("service.name", "from-attrs")}
			return c
		}(), want: "checkout"},
		{name: "OTEL_RESOURCE_ATTRIBUTES next", give: func() core.Config {
			c := core.NewDefaultConfig()
			c.ResourceAttributes = []attribute.KeyValue{attribute.String("service.name", "from-attrs")}
			return c
		}(), want: "from-attrs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := core.NewResource(env, tt.give).Set().Value("service.name")
			if v.AsString() != tt.want {
				t.Errorf("service.name = %q, want %q", v.AsString(), tt.want)
			}
		})
	}
	v, _ := core.NewResource(ports.Environment{}, core.NewDefaultConfig()).Set().Value("service.name")
	if v.AsString() == "" {
		t.Error("no service.name fallback off GCP")
	}
}
