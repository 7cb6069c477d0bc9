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

const XML_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

/**
 * Decodes the text of an XML element: the five predefined entities and character references,
 * nothing else (no DTD can declare more). An unknown entity or an out-of-range reference is
 * reported to `invalid`, whose error is thrown.
 */
export function unescapeXml(raw: string, invalid: (detail: string) => Error): string {
  return raw.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref.startsWith('#x') ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (code > 0x10ffff) throw invalid(`character reference ${whole} is out of range`);
      return String.fromCodePoint(code);
    }
    const named = XML_ENTITIES[ref];
    if (named === undefined) throw invalid(`unknown entity ${whole}`);
    return named;
  });
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

const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

type XmlValue = string | number | boolean | undefined | XmlNode | XmlNode[];
interface XmlNode {
  [name: string]: XmlValue;
}

function renderNode(node: XmlNode): string {
  let out = '';
  for (const [name, value] of Object.entries(node)) {
    if (value === undefined) continue;
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      const inner = typeof item === 'object' ? renderNode(item) : escapeXml(String(item));
      out += `<${name}>${inner}</${name}>`;
    }
  }
  return out;
}

/** Renders an S3 response document with the S3 namespace on its root element. */
export function renderXmlDocument(rootName: string, content: XmlNode): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<${rootName} xmlns="${S3_XMLNS}">${renderNode(content)}</${rootName}>`
  );
}

/** A part as ListParts reports it. */
export interface ListedPart {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: Date;
  checksums?: Partial<Record<string, string>>;
}

/** The ListPartsResult document. @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html */
export function renderListParts(input: {
  bucket: string;
  key: string;
  uploadId: string;
  partNumberMarker: number;
  nextPartNumberMarker?: number;
  maxParts: number;
  isTruncated: boolean;
  parts: ListedPart[];
  storageClass?: string;
}): string {
  return renderXmlDocument('ListPartsResult', {
    Bucket: input.bucket,
    Key: input.key,
    UploadId: input.uploadId,
    StorageClass: input.storageClass ?? 'STANDARD',
    PartNumberMarker: input.partNumberMarker,
    NextPartNumberMarker: input.nextPartNumberMarker,
    MaxParts: input.maxParts,
    IsTruncated: input.isTruncated,
    Part: input.parts.map((p) => ({
      PartNumber: p.partNumber,
      LastModified: p.lastModified.toISOString(),
      ETag: p.etag,
      Size: p.size,
      ...Object.fromEntries(
        Object.entries(p.checksums ?? {}).map(([alg, v]) => [`Checksum${alg.toUpperCase()}`, v]),
      ),
    })),
  });
}
