// A small well-formedness check for the SVG the tools write (no XML parser among the
// dependencies): balanced tags, quoted attributes, escaped text. Returns the elements found.

export interface SvgElement {
  name: string;
  attrs: Record<string, string>;
  text: string;
}

export function parseSvg(svg: string): SvgElement[] {
  const elements: SvgElement[] = [];
  const stack: SvgElement[] = [];
  const token = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  const attr = /([\w:-]+)="([^"<]*)"/g;
  const checkEscapes = (s: string, where: string) => {
    for (const m of s.matchAll(/&([^;\s]*);?/g)) {
      if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(m[0])) throw new Error(`bad entity ${m[0]} in ${where}`);
    }
  };
  let pos = 0;
  while (pos < svg.length) {
    token.lastIndex = pos;
    const m = token.exec(svg);
    if (!m) throw new Error(`not well-formed at offset ${pos}: ${JSON.stringify(svg.slice(pos, pos + 60))}`);
    pos = token.lastIndex;
    if (m[5] !== undefined) {
      checkEscapes(m[5], "text");
      if (m[5].includes(">")) throw new Error(`raw > in text ${JSON.stringify(m[5])}`);
      if (stack.length) stack[stack.length - 1]!.text += decode(m[5]);
      else if (m[5].trim()) throw new Error(`text outside the root: ${JSON.stringify(m[5])}`);
      continue;
    }
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name}>`);
      if (stack.length) stack[stack.length - 1]!.text += open.text;
      continue;
    }
    if (stack.length === 0 && elements.length > 0) throw new Error(`second root element <${name}>`);
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(attr)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}>`);
      checkEscapes(a[2]!, `attribute ${a[1]}`);
      attrs[a[1]!] = decode(a[2]!);
    }
    const el: SvgElement = { name: name!, attrs, text: "" };
    elements.push(el);
    if (!selfClose) stack.push(el);
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (elements[0]?.name !== "svg") throw new Error("root element is not <svg>");
  return elements;
}

function decode(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");
}
