/// <reference lib="dom" />
/** Section "prompts": each prompt's name, kind, length and text. */

import { el, noData } from "../charts.ts";
import { fInt } from "../format.ts";
import type { ReportView, SectionHost } from "../view.ts";

export function drawPrompts({ body }: SectionHost, v: ReportView): void {
  if (v.data.prompts.length === 0) {
    return noData(body, "No prompts recorded in this results file.");
  }
  for (const p of v.data.prompts) {
    const item = el("div", "prompt");
    item.append(el("div", "meta", `${p.name} · ${p.kind} · ${fInt(p.ids.length)} tokens`));
    item.append(el("pre", undefined, p.text));
    body.append(item);
  }
}
