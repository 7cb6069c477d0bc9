/**
 * Parses the CompleteMultipartUpload request body. A small purpose-built reader, not a general
 * XML parser: no DTDs, no entities beyond the five predefined ones, bounded size and depth, so
 * entity-expansion and external-entity attacks have nothing to work with.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
 */
import { S3Error } from './errors';
import { CHECKSUM_HEADERS, type ChecksumAlgorithmName } from './headers';
import { unescapeXml } from './xml';

/** The most bytes a Complete body may have. */
export const MAX_COMPLETE_BODY_BYTES = 1024 * 1024;

/** The highest part number S3 allows. */
export const MAX_PART_NUMBER = 10_000;

/** One `<Part>` of the request. */
export interface CompletedPartInput {
  partNumber: number;
  etag: string;
  checksums: Partial<Record<ChecksumAlgorithmName, string>>;
}

interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

function malformed(detail: string): S3Error {
  return new S3Error(
    'MalformedXML',
    `The XML you provided was not well-formed or did not validate against our published schema: ${detail}.`,
  );
}

function decodeText(raw: string): string {
  return unescapeXml(raw, malformed);
}

/** Reads a small XML document into elements; attributes are ignored. */
function parseXml(text: string): XmlElement {
  const body = text.replace(/^\uFEFF/, '').replace(/^\s*<\?xml[^?]*\?>/, '');
  if (/<!|<\?/.test(body))
    throw malformed('DTDs, comments and processing instructions are not accepted');
  const root: XmlElement = { name: '#root', children: [], text: '' };
  const stack: XmlElement[] = [root];
  // One `\s`, not `\s+`: `[^<>]` takes whitespace too, so `\s+[^<>]*?` could split a run of
  // whitespace in every way, and a tag left open after 1 MiB of it backtracked for minutes.
  const token = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s[^<>]*?)?)(\/?)>|([^<]+)|(<)/g;
  let match: RegExpExecArray | null;
  while ((match = token.exec(body)) !== null) {
    const [, closing, name, , selfClosing, textPart, stray] = match;
    const top = stack[stack.length - 1];
    if (stray !== undefined || top === undefined) throw malformed('unexpected "<"');
    if (textPart !== undefined) {
      top.text += decodeText(textPart);
      continue;
    }
    const local = (name ?? '').replace(/^.*:/, '');
    if (closing === '/') {
      if (top.name !== local || stack.length === 1) throw malformed(`unexpected </${local}>`);
      stack.pop();
      continue;
    }
    const element: XmlElement = { name: local, children: [], text: '' };
    top.children.push(element);
    if (selfClosing !== '/') {
      if (stack.length > 8) throw malformed('nesting too deep');
      stack.push(element);
    }
  }
  if (stack.length !== 1) throw malformed('unclosed element');
  if (root.children.length !== 1 || root.text.trim() !== '')
    throw malformed('expected one root element');
  return root.children[0];
}

/**
 * Parses a CompleteMultipartUpload body into its parts, in request order. Refuses malformed XML
 * (MalformedXML), an empty list, bad part numbers (InvalidArgument) and descending or repeated
 * part numbers (InvalidPartOrder).
 */
export function parseCompleteMultipartUpload(xml: string): CompletedPartInput[] {
  const root = parseXml(xml);
  if (root.name !== 'CompleteMultipartUpload') throw malformed(`unexpected root <${root.name}>`);
  const parts: CompletedPartInput[] = [];
  for (const element of root.children) {
    if (element.name !== 'Part') throw malformed(`unexpected <${element.name}>`);
    let partNumber: number | undefined;
    let etag: string | undefined;
    const checksums: CompletedPartInput['checksums'] = {};
    for (const field of element.children) {
      const value = field.text.trim();
      if (field.name === 'PartNumber') {
        if (!/^\d{1,5}$/.test(value))
          throw new S3Error('InvalidArgument', 'PartNumber must be an integer.');
        partNumber = Number(value);
      } else if (field.name === 'ETag') {
        etag = value;
      } else if (field.name.startsWith('Checksum')) {
        const algorithm = field.name.slice('Checksum'.length).toUpperCase();
        if (!Object.prototype.hasOwnProperty.call(CHECKSUM_HEADERS, algorithm)) {
          throw malformed(`unknown <${field.name}>`);
        }
        checksums[algorithm as ChecksumAlgorithmName] = value;
      } else {
        throw malformed(`unexpected <${field.name}> in <Part>`);
      }
    }
    if (partNumber === undefined || etag === undefined || etag === '') {
      throw malformed('each <Part> needs a <PartNumber> and an <ETag>');
    }
    if (partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      throw new S3Error(
        'InvalidArgument',
        `Part number must be an integer between 1 and ${MAX_PART_NUMBER}.`,
      );
    }
    const previous = parts[parts.length - 1];
    if (previous !== undefined && previous.partNumber >= partNumber) {
      throw new S3Error('InvalidPartOrder');
    }
    parts.push({ partNumber, etag, checksums });
  }
  if (parts.length === 0) {
    throw malformed('the part list is empty');
  }
  return parts;
}

/** Normalises an ETag for comparison: S3 accepts it with or without surrounding quotes. */
export function normalizeEtag(etag: string): string {
  const trimmed = etag.trim();
  return trimmed.startsWith('"') && trimmed.endsWith('"') && trimmed.length >= 2
    ? trimmed.slice(1, -1)
    : trimmed;
}
