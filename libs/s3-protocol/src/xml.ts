/** Minimal XML writing for S3 responses: escaping and the Error document. */

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Escapes text for use inside an XML element or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

/** Fields of an S3 `<Error>` document. */
export interface ErrorDocument {
  code: string;
  message: string;
  resource: string;
  requestId: string;
}

/**
 * Renders the S3 REST error body.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#RESTErrorResponses
 */
export function renderErrorXml(doc: ErrorDocument): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${escapeXml(doc.code)}</Code><Message>${escapeXml(doc.message)}</Message>` +
    `<Resource>${escapeXml(doc.resource)}</Resource><RequestId>${escapeXml(doc.requestId)}</RequestId></Error>`
  );
}
