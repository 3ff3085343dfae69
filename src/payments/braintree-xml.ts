/**
 * A small, strict reader of the XML Braintree sends in webhook notifications. Pure (no I/O, no
 * dependencies) and synchronous, so the gateway-event mappers stay pure.
 *
 * Why not the SDK's own parser: the `braintree` package reads notifications only through
 * `gateway.webhookNotification.parse(signature, payload)`, which needs a gateway configured with
 * the signing key pair, re-verifies the signature, and is asynchronous; its XML layer is `xml2js`,
 * a transitive dependency Obol does not declare, reached only through undocumented deep imports.
 * Braintree's notification XML is plain: elements, a few attributes (`type="date"`, `nil="true"`,
 * `type="array"`), text with the five predefined entities. That is all this reader accepts;
 * anything else (a DOCTYPE, unknown entities, mismatched tags, text after the root) is refused,
 * so a document is either read exactly or not at all. Tests check it against the SDK's parser.
 */

export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** The element's own text (its text nodes and CDATA concatenated), entities decoded, untrimmed. */
  readonly text: string;
}

export class XmlSyntaxError extends Error {
  constructor(message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'XmlSyntaxError';
  }
}

const NAME = /[A-Za-z_][A-Za-z0-9._:-]*/y;
const ATTRIBUTE = /\s+([A-Za-z_][A-Za-z0-9._:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y;
const MAX_DEPTH = 64;
const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(raw: string, offset: number): string {
  return raw.replace(/&([^;&\s]*);?/g, (match, body: string, at: number) => {
    if (!match.endsWith(';')) throw new XmlSyntaxError('unterminated entity reference', offset + at);
    const named = PREDEFINED[body];
    if (named !== undefined) return named;
    const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
    if (numeric) {
      const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]);
      if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new XmlSyntaxError(`invalid character reference &${body};`, offset + at);
      return String.fromCodePoint(code);
    }
    throw new XmlSyntaxError(`unknown entity &${body};`, offset + at);
  });
}

interface Building {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

/** Parses a whole document into its root element, or throws XmlSyntaxError. */
export function parseXml(xml: string): XmlElement {
  let i = 0;
  const stack: Building[] = [];
  let root: XmlElement | undefined;

  const skipMisc = (): void => {
    // Whitespace, comments and processing instructions (the XML declaration) outside the root.
    for (;;) {
      while (i < xml.length && /\s/.test(xml[i]!)) i++;
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i + 4);
        if (end < 0) throw new XmlSyntaxError('unterminated comment', i);
        i = end + 3;
      } else if (xml.startsWith('<?', i)) {
        const end = xml.indexOf('?>', i + 2);
        if (end < 0) throw new XmlSyntaxError('unterminated processing instruction', i);
        i = end + 2;
      } else return;
    }
  };

  skipMisc();
  if (xml[i] !== '<') throw new XmlSyntaxError('expected the root element', i);
  while (i < xml.length) {
    const top = stack[stack.length - 1];
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      if (end < 0) throw new XmlSyntaxError('unterminated comment', i);
      i = end + 3;
    } else if (xml.startsWith('<![CDATA[', i)) {
      if (!top) throw new XmlSyntaxError('CDATA outside the root element', i);
      const end = xml.indexOf(']]>', i + 9);
      if (end < 0) throw new XmlSyntaxError('unterminated CDATA section', i);
      top.text += xml.slice(i + 9, end);
      i = end + 3;
    } else if (xml.startsWith('<!', i) || xml.startsWith('<?', i)) {
      // DOCTYPE (and with it entity definitions) has no place in a notification.
      throw new XmlSyntaxError('unsupported markup declaration', i);
    } else if (xml.startsWith('</', i)) {
      NAME.lastIndex = i + 2;
      const m = NAME.exec(xml);
      if (!m) throw new XmlSyntaxError('malformed closing tag', i);
      let j = NAME.lastIndex;
      while (j < xml.length && /\s/.test(xml[j]!)) j++;
      if (xml[j] !== '>') throw new XmlSyntaxError('malformed closing tag', i);
      if (!top || top.name !== m[0]) throw new XmlSyntaxError(`unexpected </${m[0]}>`, i);
      stack.pop();
      const done: XmlElement = { name: top.name, attributes: top.attributes, children: top.children, text: top.text };
      i = j + 1;
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(done);
      else {
        root = done;
        break;
      }
    } else if (xml[i] === '<') {
      NAME.lastIndex = i + 1;
      const m = NAME.exec(xml);
      if (!m) throw new XmlSyntaxError('malformed tag', i);
      let j = NAME.lastIndex;
      const attributes: Record<string, string> = Object.create(null) as Record<string, string>;
      for (;;) {
        ATTRIBUTE.lastIndex = j;
        const a = ATTRIBUTE.exec(xml);
        if (!a) break;
        const attrName = a[1]!;
        if (attrName in attributes) throw new XmlSyntaxError(`duplicate attribute ${attrName}`, j);
        attributes[attrName] = decodeEntities(a[2] ?? a[3] ?? '', j);
        j = ATTRIBUTE.lastIndex;
      }
      while (j < xml.length && /\s/.test(xml[j]!)) j++;
      const selfClosing = xml.startsWith('/>', j);
      if (!selfClosing && xml[j] !== '>') throw new XmlSyntaxError(`malformed <${m[0]}> tag`, i);
      i = j + (selfClosing ? 2 : 1);
      if (stack.length >= MAX_DEPTH) throw new XmlSyntaxError('elements nested too deeply', i);
      const element: Building = { name: m[0], attributes, children: [], text: '' };
      if (selfClosing) {
        const done: XmlElement = { ...element };
        if (top) top.children.push(done);
        else {
          root = done;
          break;
        }
      } else stack.push(element);
    } else {
      const end = xml.indexOf('<', i);
      const stop = end < 0 ? xml.length : end;
      if (!top) throw new XmlSyntaxError('text outside the root element', i);
      const raw = xml.slice(i, stop);
      if (raw.includes(']]>')) throw new XmlSyntaxError("']]>' in text", i);
      top.text += decodeEntities(raw, i);
      i = stop;
    }
  }
  if (!root) throw new XmlSyntaxError(stack.length > 0 ? `unclosed <${stack[stack.length - 1]!.name}>` : 'no root element', i);
  skipMisc();
  if (i < xml.length) throw new XmlSyntaxError('content after the root element', i);
  return root;
}

/** The direct children called `name`. */
export function childrenNamed(element: XmlElement, name: string): readonly XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

export class AmbiguousXmlError extends Error {
  constructor(parent: string, name: string) {
    super(`<${parent}> has more than one <${name}>`);
    this.name = 'AmbiguousXmlError';
  }
}

/** The one direct child called `name`; undefined when absent; an error when there are several. */
export function onlyChild(element: XmlElement, name: string): XmlElement | undefined {
  const found = childrenNamed(element, name);
  if (found.length > 1) throw new AmbiguousXmlError(element.name, name);
  return found[0];
}

/**
 * The trimmed text of the one direct child `name`, when it is a leaf with text; undefined when it
 * is absent, empty, `nil="true"` (Braintree's null) or has child elements of its own.
 */
export function childText(element: XmlElement, name: string): string | undefined {
  const child = onlyChild(element, name);
  if (!child || child.attributes.nil === 'true' || child.children.length > 0) return undefined;
  const text = child.text.trim();
  return text.length > 0 ? text : undefined;
}
