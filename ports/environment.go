package ports

// Platform is the Google Cloud product a function instance runs on.
type Platform string

// The platforms an EnvironmentSource can detect.
const (
	PlatformUnknown         Platform = ""                     // not on GCP, or not detected
	PlatformFunctionsGen1   Platform = "cloud_functions_gen1" // Cloud Functions 1st gen
	PlatformFunctionsGen2   Platform = "cloud_functions_gen2" // Cloud Functions 2nd gen (Cloud Run functions)
	PlatformCloudRunService Platform = "cloud_run_service"
	PlatformCloudRunJob     Platform = "cloud_run_job"
)

// IsFunction reports whether p is a Cloud Functions generation.
func (p Platform) IsFunction() bool {
	return p == PlatformFunctionsGen1 || p == PlatformFunctionsGen2
}

// Environment describes the function instance that is running. Every field is
// optional; empty means unknown.
type Environment struct {
	Platform Platform

	ProjectID        string // e.g. "my-project"
	NumericProjectID string // e.g. "123456789012"
	Region           string // e.g. "europe-west3"
	Zone             string // e.g. "europe-west3-1"

	Function      string // function or service name (K_SERVICE, FUNCTION_NAME)
	Revision      string // K_REVISION
	Configuration string // K_CONFIGURATION
	EntryPoint    string // FUNCTION_TARGET, ENTRY_POINT
	SignatureType string // FUNCTION_SIGNATURE_TYPE: http, event or cloudevent
	InstanceID    string // the execution environment's id (metadata instance/id)

	MemoryMB int // FUNCTION_MEMORY_MB or configured; 0 when unknown
}

// Merge returns e with every empty field filled from o. Fields already set in
// e win.
func (e Environment) Merge(o Environment) Environment {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	if e.Platform == PlatformUnknown {
		e.Platform = o.Platform
	}
	fill(&e.ProjectID, o.ProjectID)
	fill(&e.NumericProjectID, o.NumericProjectID)
	fill(&e.Region, o.Region)
	fill(&e.Zone, o.Zone)
	fill(&e.Function, o.Function)
	fill(&e.Revision, o.Revision)
	fill(&e.Configuration, o.Configuration)
	fill(&e.EntryPoint, o.EntryPoint)
	fill(&e.SignatureType, o.SignatureType)
	fill(&e.InstanceID, o.InstanceID)
	if e.MemoryMB == 0 {
		e.MemoryMB = o.MemoryMB
	}
	return e
}
