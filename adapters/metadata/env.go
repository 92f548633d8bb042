package metadata

import (
	"strconv"

	"github.com/gcftrace/gcftrace/ports"
)

// Environment variables the Source reads.
const (
	EnvMetadataHost = "GCE_METADATA_HOST" // host[:port] of the metadata server

	// Set by current runtimes (Cloud Functions 1st gen on newer runtimes,
	// 2nd gen, Cloud Run).
	EnvFunctionTarget = "FUNCTION_TARGET"
	EnvSignatureType  = "FUNCTION_SIGNATURE_TYPE"
	EnvService        = "K_SERVICE"
	EnvRevision       = "K_REVISION"
	EnvConfiguration  = "K_CONFIGURATION" // Cloud Run contract: 2nd gen and Cloud Run
	EnvJob            = "CLOUD_RUN_JOB"
	EnvWorkerPool     = "CLOUD_RUN_WORKER_POOL"

	// Set by 1st gen legacy runtimes, or by the user.
	EnvFunctionName   = "FUNCTION_NAME"
	EnvEntryPoint     = "ENTRY_POINT"
	EnvFunctionRegion = "FUNCTION_REGION"
	EnvMemoryMB       = "FUNCTION_MEMORY_MB"
	EnvGCPProject     = "GCP_PROJECT"
	EnvGCloudProject  = "GCLOUD_PROJECT"
	EnvGoogleProject  = "GOOGLE_CLOUD_PROJECT"
)

// defaultMetadataHost is where the metadata server answers on Google Cloud.
const defaultMetadataHost = "169.254.169.254"

// base is what the Source knows at zero network cost: the user's Config
// over the process environment.
func base(cfg Config, getenv func(string) string) ports.Environment {
	user := ports.Environment{
		ProjectID: cfg.ProjectID,
		Region:    cfg.Region,
		Function:  cfg.Function,
		MemoryMB:  cfg.MemoryMB,
	}
	return user.Merge(fromEnv(getenv))
}

// fromEnv reads what the platform puts into the process environment.
func fromEnv(getenv func(string) string) ports.Environment {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	env := ports.Environment{
		Platform:      platform(getenv),
		ProjectID:     first(EnvGoogleProject, EnvGCPProject, EnvGCloudProject),
		Region:        getenv(EnvFunctionRegion),
		Function:      first(EnvService, EnvJob, EnvWorkerPool, EnvFunctionName),
		Revision:      getenv(EnvRevision), // a job's execution is no version
		Configuration: getenv(EnvConfiguration),
		EntryPoint:    first(EnvFunctionTarget, EnvEntryPoint),
		SignatureType: getenv(EnvSignatureType),
	}
	if mb, err := strconv.Atoi(getenv(EnvMemoryMB)); err == nil && mb > 0 {
		env.MemoryMB = mb
	}
	return env
}

// platform detects the product from the variables each one sets. The
// Cloud Run contract comes first: legacy 1st gen variables may be left over
// or set by the user on any platform, so they mean 1st gen only when no
// newer platform variable is set. In order, first match wins:
//
//   - K_CONFIGURATION and K_SERVICE (the Cloud Run contract): 2nd gen with
//     FUNCTION_TARGET, else a Cloud Run service;
//   - CLOUD_RUN_JOB: a Cloud Run job;
//   - CLOUD_RUN_WORKER_POOL: a Cloud Run worker pool, reported as
//     ports.PlatformUnknown ("not detected"). Platform has no worker pool,
//     and passing one off as a service or a job would give it a
//     cloud.resource_id and faas.id naming a resource that does not exist;
//     the name still comes from the variable;
//   - FUNCTION_TARGET and K_SERVICE without K_CONFIGURATION: 1st gen on a
//     newer runtime;
//   - FUNCTION_NAME or ENTRY_POINT, or FUNCTION_REGION without K_SERVICE:
//     1st gen on a legacy runtime.
//
// FUNCTION_TARGET alone is a local functions-framework run, not GCP.
func platform(getenv func(string) string) ports.Platform {
	set := func(k string) bool { return getenv(k) != "" }
	switch {
	case set(EnvConfiguration) && set(EnvService):
		if set(EnvFunctionTarget) {
			return ports.PlatformFunctionsGen2
		}
		return ports.PlatformCloudRunService
	case set(EnvJob):
		return ports.PlatformCloudRunJob
	case set(EnvWorkerPool):
		return ports.PlatformUnknown
	case set(EnvFunctionTarget) && set(EnvService):
		return ports.PlatformFunctionsGen1
	case set(EnvFunctionName) || set(EnvEntryPoint) || set(EnvFunctionRegion) && !set(EnvService):
		return ports.PlatformFunctionsGen1
	}
	return ports.PlatformUnknown
}
