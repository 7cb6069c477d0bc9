# Upload policy for Mizuchi Uploadr (Rego v1, OPA 1.x).
#
# The gateway asks POST /v1/data/mizuchi/upload/decision with this input for every operation:
#   { "subject": "alice", "auth_method": "jwt" | "sigv4" | "anonymous", "claims": {...},
#     "action": "s3:PutObject" | "s3:CreateMultipartUpload" | "s3:UploadPart" |
#               "s3:CompleteMultipartUpload" | "s3:AbortMultipartUpload" |
#               "s3:ListMultipartUploadParts" | "s3:ListBucket",
#     "bucket": "uploads", "key": "alice/report.pdf", "path": "/uploads/alice/report.pdf",
#     "method": "PUT", "content_length": 1048576, "content_type": "application/pdf",
#     "client_ip": "10.0.0.7" }
# and accepts either a boolean (policy_path mizuchi/upload/allow) or {allow, reason}
# (policy_path mizuchi/upload/decision); the reason is shown to a refused client.
package mizuchi.upload

# Who may upload. In production, ship this as data in a bundle instead of in the policy.
uploaders := {"alice", "bob", "anonymous"}

# Every operation an upload consists of; reads do not exist on the gateway.
upload_actions := {
	"s3:PutObject",
	"s3:CreateMultipartUpload",
	"s3:UploadPart",
	"s3:CompleteMultipartUpload",
	"s3:AbortMultipartUpload",
	"s3:ListMultipartUploadParts",
	"s3:ListBucket",
}

# The largest single request body accepted (1 GiB); content_length is null when unknown.
max_request_bytes := 1073741824

default allow := false

allow if {
	input.subject in uploaders
	input.action in upload_actions
	not too_large
}

too_large if {
	is_number(input.content_length)
	input.content_length > max_request_bytes
}

decision := {"allow": true} if allow

decision := {"allow": false, "reason": reason} if {
	not allow
	reason := deny_reason
}

deny_reason := msg if {
	not input.subject in uploaders
	msg := sprintf("%s may not upload here", [input.subject])
} else := msg if {
	not input.action in upload_actions
	msg := sprintf("%s is not an upload action", [input.action])
} else := msg if {
	too_large
	msg := sprintf("%d bytes is more than one request may carry", [input.content_length])
}
