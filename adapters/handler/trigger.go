package handler

import (
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Event types the wrappers recognise beyond their prefixes.
const (
	pubsubPublished        = "google.cloud.pubsub.topic.v1.messagePublished"
	legacyPubSubPublish    = "google.pubsub.topic.publish"
	legacyPubSubProvider   = "providers/cloud.pubsub/eventTypes/topic.publish"
	googclientAttrPrefix   = "googclient_"
	messagingOperationName = "process"
)

// datasourcePrefixes are the event types, CloudEvents and legacy, of Cloud
// Storage, Firestore (native and Datastore mode) and the Firebase Realtime
// Database.
var datasourcePrefixes = []string{
	"google.cloud.storage.object.v1.",
	"google.cloud.firestore.document.v1.",
	"google.cloud.datastore.entity.v1.",
	"google.firebase.database.ref.v1.",
	"google.storage.object.",
	"providers/cloud.storage/",
	"providers/cloud.firestore/",
	"providers/google.firebase.database/",
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
	for _, p := range datasourcePrefixes {
		if strings.HasPrefix(eventType, p) {
			return semconv.FaaSTriggerDatasource.Value.AsString()
		}
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

// documentPath splits a datasource resource path into faas.document
// collection and name:
//
//	…/buckets/B/objects/O             → B, O       (Cloud Storage)
//	…/documents/users/alice/orders/o1 → users/alice/orders, o1 (Firestore)
//	…/refs/users/alice                → users, alice (Realtime Database)
//
// A CloudEvent's path is its source and subject joined by "/"; a legacy
// event's is its resource name.
func documentPath(resource string) (collection, name string) {
	if _, rest, ok := cutMarker(resource, "buckets/"); ok {
		bucket, object, _ := strings.Cut(rest, "/objects/")
		return bucket, object
	}
	for _, marker := range []string{"documents/", "refs/"} {
		if _, rest, ok := cutMarker(resource, marker); ok {
			if i := strings.LastIndexByte(rest, '/'); i >= 0 {
				return rest[:i], rest[i+1:]
			}
			return "", rest
		}
	}
	return "", ""
}

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
