package core

import (
	"os"
	"path/filepath"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/gcftrace/gcftrace/ports"
)

// Attribute keys Dynatrace's own GCF packages set that are not semantic
// conventions. Dynatrace's backend reads them to place a span on its function.
const (
	keyFaaSID          = attribute.Key("faas.id")
	keyGCPProjectID    = attribute.Key("gcp.project.id")
	keyGCPRegion       = attribute.Key("gcp.region")
	keyGCPInstanceName = attribute.Key("gcp.instance.name")
)

// ResourceAttributes returns the resource attributes that describe env:
// cloud.provider, cloud.platform, cloud.region, cloud.availability_zone,
// cloud.account.id, cloud.resource_id and faas.id (see resourceID),
// faas.name, faas.version, faas.instance, faas.max_memory (bytes) and
// Dynatrace's gcp.project.id, gcp.region and gcp.instance.name. Unknown
// values are left out.
//
// Whether the function runs on Google Cloud is decided from env.Platform
// alone, as an EnvironmentSource decides when to answer ports.ErrNotOnGCP:
// an Environment without a platform (a local run, even with
// GOOGLE_CLOUD_PROJECT set or a metadata emulator answering) yields no
// cloud.*, faas.id or gcp.* attribute, only the faas.* ones that describe
// the function itself.
func ResourceAttributes(env ports.Environment) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 16)
	add := func(kv attribute.KeyValue) {
		if kv.Value.AsString() != "" || kv.Value.Type() != attribute.STRING {
			attrs = append(attrs, kv)
		}
	}
	onGCP := env.Platform != ports.PlatformUnknown
	if onGCP {
		add(semconv.CloudProviderGCP)
		switch env.Platform {
		case ports.PlatformFunctionsGen1, ports.PlatformFunctionsGen2:
			add(semconv.CloudPlatformGCPCloudFunctions)
		case ports.PlatformCloudRunService, ports.PlatformCloudRunJob:
			add(semconv.CloudPlatformGCPCloudRun)
		}
		add(semconv.CloudRegion(env.Region))
		add(semconv.CloudAvailabilityZone(env.Zone))
		add(semconv.CloudAccountID(env.ProjectID))
		if id := resourceID(env); id != "" {
			add(semconv.CloudResourceID(id))
			add(keyFaaSID.String(id))
		}
	}
	add(semconv.FaaSName(env.Function))
	add(semconv.FaaSVersion(env.Revision))
	add(semconv.FaaSInstance(env.InstanceID))
	if env.MemoryMB > 0 {
		add(semconv.FaaSMaxMemory(env.MemoryMB << 20))
	}
	if onGCP {
		add(keyGCPProjectID.String(env.ProjectID))
		add(keyGCPRegion.String(env.Region))
		add(keyGCPInstanceName.String(env.Function))
	}
	return attrs
}

// resourceID is the full resource name of the function or service, as
// cloud.resource_id defines it, or "" when it has none or a part of it is
// unknown: project, region and name must all be known. Cloud Functions of
// either generation are //cloudfunctions.googleapis.com/projects/P/locations/R/functions/F
// (the form Dynatrace reads in faas.id), even though a 2nd gen function
// runs as a Cloud Run service; a Cloud Run service is
// //run.googleapis.com/projects/P/locations/R/services/S, the form the
// semantic conventions give for Cloud Run. Other platforms (a Cloud Run
// job, none) get none rather than a form nobody documents.
func resourceID(env ports.Environment) string {
	if env.ProjectID == "" || env.Region == "" || env.Function == "" {
		return ""
	}
	switch {
	case env.Platform.IsFunction():
		return "//cloudfunctions.googleapis.com/projects/" + env.ProjectID + "/locations/" + env.Region + "/functions/" + env.Function
	case env.Platform == ports.PlatformCloudRunService:
		return "//run.googleapis.com/projects/" + env.ProjectID + "/locations/" + env.Region + "/services/" + env.Function
	}
	return ""
}

// NewResource builds the OpenTelemetry resource of a function instance from
// env and cfg: the SDK's telemetry.sdk.* attributes, then env's attributes
// (ResourceAttributes), then cfg.ResourceAttributes (OTEL_RESOURCE_ATTRIBUTES),
// later ones winning. service.name is cfg.ServiceName (OTEL_SERVICE_NAME),
// else a service.name from OTEL_RESOURCE_ATTRIBUTES, else the function name,
// else the SDK's default.
func NewResource(env ports.Environment, cfg Config) *resource.Resource {
	attrs := ResourceAttributes(env)
	if env.Function != "" {
		attrs = append(attrs, semconv.ServiceName(env.Function))
	}
	attrs = append(attrs, cfg.ResourceAttributes...)
	if cfg.ServiceName != "" {
		attrs = append(attrs, semconv.ServiceName(cfg.ServiceName))
	}
	// The SDK's own defaults would read OTEL_* from the process environment
	// again; cfg already did, so only telemetry.sdk.* and the fallback
	// service name are taken from the SDK.
	base := []attribute.KeyValue{
		semconv.TelemetrySDKName("opentelemetry"),
		semconv.TelemetrySDKLanguageGo,
		semconv.TelemetrySDKVersion(sdk.Version()),
		semconv.ServiceName("unknown_service:" + filepath.Base(os.Args[0])),
	}
	return resource.NewWithAttributes(semconv.SchemaURL, append(base, attrs...)...)
}
