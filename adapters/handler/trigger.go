package handler

import (
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Event types the wrappers recognise beyond their prefixes.
const (
	pubsubPublished      = "google.cloud.pubsub.topic.v1.messagePublished"
	legacyPubSubPublish  = "google.pubsub.topic.publish"
	legacyPubSubProvider = "providers/cloud.pubsub/eventTypes/topic.publish"
	googclientAttrPrefix = "googclient_"
	// messagingOperationName is messaging.operation.name of a Pub/Sub
	// message's span: the well-known value for the time from receiving a
	// message to acknowledging it, which a pushed message's handler spans.
	messagingOperationName = "subscribe"
)

// A datasource is the service a datasource event comes from. It decides
// how the event's resource path splits into faas.document.collection and
// faas.document.name: each service names its documents its own way.
type datasource uint8

const (
	noDatasource    datasource = iota
	storageSource              // Cloud Storage: …/buckets/B/objects/O
	firestoreSource            // Firestore, native and Datastore mode: …/databases/D/documents/C/…/N
	databaseSource             // Firebase Realtime Database: …/instances/I/refs/C/…/N
)

// datasourcePrefixes are the event types, CloudEvents and legacy, of Cloud
// Storage, Firestore (native and Datastore mode) and the Firebase Realtime
// Database.
var datasourcePrefixes = []struct {
	prefix string
	source datasource
}{
	{"google.cloud.storage.object.v1.", storageSource},
	{"google.storage.object.", storageSource},
	{"providers/cloud.storage/", storageSource},
	{"google.cloud.firestore.document.v1.", firestoreSource},
	{"google.cloud.datastore.entity.v1.", firestoreSource},
	{"providers/cloud.firestore/", firestoreSource},
	{"google.firebase.database.ref.v1.", databaseSource},
	{"providers/google.firebase.database/", databaseSource},
}

// datasourceOf is the service of a datasource event type, or noDatasource.
func datasourceOf(eventType string) datasource {
	for _, p := range datasourcePrefixes {
		if strings.HasPrefix(eventType, p.prefix) {
			return p.source
		}
	}
	return noDatasource
}

// timerPrefixes are the event types of Cloud Scheduler.
var timerPrefixes = []string{"google.cloud.scheduler."}

// trigger is the faas.trigger value of a CloudEvents or legacy event type:
// Pub/Sub → pubsub; Cloud Storage, Firestore and Firebase databases →
// datasource; Cloud Scheduler → timer; anything else → other.
func trigger(eventType string) string {
	switch eventType {
	case pubsubPublished, legacyPubSubPublish, legacyPubSubProvider:
		return semconv.FaaSTriggerPubSub.Value.AsString()
	}
	if datasourceOf(eventType) != noDatasource {
		return semconv.FaaSTriggerDatasource.Value.AsString()
	}
	for _, p := range timerPrefixes {
		if strings.HasPrefix(eventType, p) {
			return semconv.FaaSTriggerTimer.Value.AsString()
		}
	}
	return semconv.FaaSTriggerOther.Value.AsString()
}

// documentOperation is faas.document.operation for a datasource event type,
// from its verb ("…object.v1.finalized" → insert, "…document.update" →
// edit); false when the verb does not say (Firestore's "written").
func documentOperation(eventType string) (attribute.KeyValue, bool) {
	t := strings.TrimSuffix(eventType, ".withAuthContext")
	if i := strings.LastIndexAny(t, "./"); i >= 0 {
		t = t[i+1:]
	}
	switch t {
	case "created", "create", "finalized", "finalize":
		return semconv.FaaSDocumentOperationInsert, true
	case "updated", "update", "metadataUpdated", "metadataUpdate":
		return semconv.FaaSDocumentOperationEdit, true
	case "deleted", "delete", "archived", "archive":
		// An archived object is a live version that was replaced or deleted.
		return semconv.FaaSDocumentOperationDelete, true
	}
	return attribute.KeyValue{}, false
}

// documentPath splits the resource path of a datasource event into
// faas.document collection and name, the way the event's service names its
// documents:
//
//	storageSource    …/buckets/B/objects/O             → B, O
//	firestoreSource  …/databases/D/documents/users/alice/orders/o1 → users/alice/orders, o1
//	databaseSource   …/instances/I/refs/users/alice    → users, alice
//
// A CloudEvent's path is its source, joined by "/" with its subject when it
// has one; a legacy event's is its resource name.
func documentPath(src datasource, resource string) (collection, name string) {
	var path string
	var ok bool
	switch src {
	case storageSource:
		return objectPath(resource)
	case firestoreSource:
		path, ok = childPath(resource, "databases", "documents/")
	case databaseSource:
		path, ok = childPath(resource, "instances", "refs/")
	}
	if !ok {
		return "", ""
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i], path[i+1:]
	}
	return "", path
}

// objectPath splits "…/buckets/B/objects/O" into B and O, and
// "…/buckets/B" into B and "".
func objectPath(resource string) (bucket, object string) {
	_, rest, ok := cutMarker(resource, "buckets/")
	if !ok {
		return "", ""
	}
	bucket, rest, _ = strings.Cut(rest, "/")
	if object, ok = strings.CutPrefix(rest, "objects/"); !ok {
		object = ""
	}
	return bucket, object
}

// childPath returns what follows child in "…/<parent>/<id>/<child>…", or in
// a path that starts with child (a CloudEvent subject on its own). The
// parent segment is what tells the child marker from a project, database or
// instance id that happens to read the same.
func childPath(resource, parent, child string) (string, bool) {
	for i := 0; i <= len(resource)-len(child); i++ {
		j := strings.Index(resource[i:], child)
		if j < 0 {
			break
		}
		i += j
		if i == 0 {
			return resource[len(child):], true
		}
		if resource[i-1] != '/' {
			continue
		}
		before := resource[:i-1] // "…/<parent>/<id>"
		if k := strings.LastIndexByte(before, '/'); k >= 0 && lastSegment(before[:k]) == parent {
			return resource[i+len(child):], true
		}
	}
	return "", false
}

// lastSegment is what follows the last "/" of s, or s.
func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

// cutMarker cuts s around the first marker that starts s or follows a "/".
func cutMarker(s, marker string) (before, after string, ok bool) {
	for i := 0; i <= len(s)-len(marker); {
		j := strings.Index(s[i:], marker)
		if j < 0 {
			return s, "", false
		}
		j += i
		if j == 0 || s[j-1] == '/' {
			return s[:j], s[j+len(marker):], true
		}
		i = j + 1
	}
	return s, "", false
}

// resourceID is the id after marker in a resource name
// ("//pubsub.googleapis.com/projects/p/topics/t" → "t" for "topics/"), or "".
func resourceID(name, marker string) string {
	_, rest, ok := cutMarker(name, marker)
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
