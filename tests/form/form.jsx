// Renders component_config/configSchema.json with RJSF as Keboola's form does, for tests/form/test_form.py.
//
// Stock RJSF does not know Keboola's extensions, so this page adds small stand-ins of the same contract:
// - `type: "button"` with `format: "test-connection"` / `"sync-action"` and `options.async`: a button that
//   calls the sync action and shows its message;
// - `options.async` on a select: a "Load" button whose sync-action answer ([{value, label}]) fills the options;
// - `options.creatable` / `options.tags` on a select: the user types values; an enum there still restricts them,
//   as Keboola's validator does (its documented creatable select has none);
// - `format: "info"`: a static heading that holds no value;
// - `options.dependencies`: a field shows only while its siblings have the given values;
// - `propertyOrder` and `options.enum_titles` become RJSF's ui:order and ui:enumNames.
// Sync-action answers come from window.FORM_INPUT.syncActions (the test fills them with the component's own
// stdout). Results go to <pre id="form-results"> as JSON.
import Form from "@rjsf/core";
import validator from "@rjsf/validator-ajv8";
import React, { useRef, useState } from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";

const INPUT = window.FORM_INPUT;
const WIDGETS = { password: "password", textarea: "textarea" };

function options(prop) {
  return prop.options || {};
}

function dependencyMet(deps, siblings) {
  return Object.entries(deps || {}).every(([name, wanted]) =>
    (Array.isArray(wanted) ? wanted : [wanted]).includes(siblings[name]));
}

// Keboola schema -> [RJSF schema, uiSchema]. The enum of an async select moves to the uiSchema (suggestions):
// Keboola fills it with what the sync action loads, so validation accepts loaded values.
function convert(node) {
  const schema = { ...node };
  const ui = {};
  const opts = options(node);
  if (node.type === "button") {
    return [{ title: node.title }, { "ui:field": "KeboolaButton", "ui:options": { format: node.format, ...opts } }];
  }
  if (node.format === "info") {
    return [{ title: node.title }, { "ui:field": "KeboolaInfo" }];
  }
  if (opts.enum_titles) ui["ui:enumNames"] = opts.enum_titles;
  if (WIDGETS[node.format]) ui["ui:widget"] = WIDGETS[node.format];
  if (node.format === "select") {
    const multiple = node.type === "array";
    const holder = multiple ? { ...node.items } : schema; // where the enum is
    const creatable = !!(opts.creatable || opts.tags);
    ui["ui:field"] = "KeboolaSelect";
    ui["ui:options"] = { suggestions: holder.enum || [], creatable, async: opts.async };
    if (opts.async) delete holder.enum;
    if (multiple) schema.items = holder;
  }
  if (node.type === "object") {
    schema.properties = {};
    const names = Object.keys(node.properties || {});
    names.sort((a, b) => (node.properties[a].propertyOrder ?? 1e9) - (node.properties[b].propertyOrder ?? 1e9));
    ui["ui:order"] = names;
    for (const name of names) {
      const [child, childUi] = convert(node.properties[name]);
      schema.properties[name] = child;
      ui[name] = childUi;
    }
  }
  if (node.type === "array" && node.items && node.items.type === "object") {
    const [items, itemsUi] = convert(node.items);
    schema.items = items;
    ui.items = itemsUi;
  }
  return [schema, ui];
}

function Described({ id, schema, required, children }) {
  return (
    <div className="field">
      {schema.title && <label htmlFor={id}>{schema.title}{required ? " *" : ""}</label>}
      {children}
      {schema.description && <p className="help">{schema.description}</p>}
    </div>
  );
}

function KeboolaButton({ fieldPathId, uiSchema, schema, registry }) {
  const { async, format } = uiSchema["ui:options"];
  const [answer, setAnswer] = useState(null);
  const id = fieldPathId.$id;
  return (
    <div className="field">
      <button id={id} type="button" className={format} data-action={async.action}
        onClick={() => setAnswer(registry.formContext.syncAction(async.action))}>{async.label}</button>
      {answer && <span id={`${id}__result`} className={`result ${answer.status}`}>{answer.message}</span>}
      {schema.description && <p className="help">{schema.description}</p>}
    </div>
  );
}

function KeboolaSelect({ fieldPathId, uiSchema, schema, formData, onChange, required, registry }) {
  const { suggestions, creatable, async } = uiSchema["ui:options"];
  const enumNames = uiSchema["ui:enumNames"];
  const [loaded, setLoaded] = useState(null);
  const typed = useRef(null);
  const id = fieldPathId.$id;
  const multiple = schema.type === "array";
  const values = multiple ? formData || [] : formData == null ? [] : [formData];
  const labels = new Map((suggestions || []).map((v, i) => [v, enumNames ? enumNames[i] : String(v)]));
  for (const item of loaded || []) labels.set(item.value, item.label);
  for (const v of values) if (!labels.has(v)) labels.set(v, String(v)); // a saved value always displays
  const set = (list) => onChange(multiple ? list : list[0], fieldPathId.path);
  return (
    <Described id={id} schema={schema} required={required}>
      <select id={id} multiple={multiple} value={multiple ? values : values[0] ?? ""}
        onChange={(e) => set([...e.target.selectedOptions].map((o) => o.value))}>
        {[...labels].map(([value, label]) => <option key={value} value={value}>{label}</option>)}
      </select>
      {async && <button id={`${id}__load`} type="button" data-action={async.action}
        onClick={() => setLoaded(registry.formContext.syncAction(async.action))}>{async.label}</button>}
      {creatable && <span className="create">
        <input id={`${id}__create`} ref={typed} placeholder="Type a value" />
        <button id={`${id}__add`} type="button" onClick={() => {
          const value = typed.current.value.trim();
          if (value && !values.includes(value)) set([...values, value]);
          typed.current.value = "";
        }}>Add</button>
      </span>}
    </Described>
  );
}

function KeboolaObject({ properties, schema, formData, title, description, fieldPathId }) {
  const siblings = formData || {};
  return (
    <fieldset id={fieldPathId.$id}>
      {title && <legend>{title}</legend>}
      {description && <p className="help">{description}</p>}
      {properties.filter((p) => !p.hidden && dependencyMet(options(schema.properties[p.name] || {}).dependencies,
        siblings)).map((p) => <div key={p.name}>{p.content}</div>)}
    </fieldset>
  );
}

// What the page shows for every field: the displayed value, as a person would read it.
function displayed(container) {
  const fields = {};
  for (const el of container.querySelectorAll("[id^=root]")) {
    const tag = el.tagName.toLowerCase();
    if (tag === "input" && el.type === "checkbox") fields[el.id] = { checked: el.checked };
    else if (tag === "input" || tag === "textarea") fields[el.id] = { value: el.value };
    else if (tag === "select") {
      fields[el.id] = {
        selected: [...el.selectedOptions].map((o) => o.textContent),
        options: [...el.options].map((o) => o.textContent),
      };
    } else if (tag === "button" || tag === "span" || (tag === "div" && el.className === "info")) {
      fields[el.id] = { text: el.textContent };
    } else if (tag === "fieldset") fields[el.id] = { fieldset: true };
  }
  return fields;
}

const [schema, uiSchema] = convert(INPUT.schema);
uiSchema["ui:submitButtonOptions"] = { norender: true };
function KeboolaInfo({ fieldPathId, schema }) {
  return <div id={fieldPathId.$id} className="info">{schema.title}</div>;
}

const fields = { KeboolaButton, KeboolaInfo, KeboolaSelect };
const templates = { ObjectFieldTemplate: KeboolaObject };
const formContext = { syncAction: (action) => INPUT.syncActions[action] };

function renderCase(caseInput, container) {
  let errors = [];
  const ref = React.createRef();
  const root = createRoot(container);
  flushSync(() => root.render(
    <Form ref={ref} schema={schema} uiSchema={uiSchema} formData={caseInput.formData} validator={validator}
      fields={fields} templates={templates} formContext={formContext} noHtml5Validate
      onError={(list) => { errors = list.map((e) => `${e.property}: ${e.message}`); }} />));
  const validate = () => { errors = []; ref.current.validateForm(); return errors; };
  const result = { name: caseInput.name, errors: validate(), fields: displayed(container) };
  result.formData = ref.current.state.formData;
  if (caseInput.interact) {
    // As a person would: test the connection, load the segments, type an activity type that is not listed.
    for (const button of container.querySelectorAll("button[data-action]")) flushSync(() => button.click());
    for (const input of container.querySelectorAll("input[id$=__create]")) {
      input.value = caseInput.interact.typed;
      flushSync(() => container.querySelector(`#${input.id.replace(/__create$/, "__add")}`).click());
    }
    result.afterInteraction = { errors: validate(), fields: displayed(container), formData: ref.current.state.formData };
  }
  result.height = container.getBoundingClientRect().height;
  return result;
}

const results = [];
for (const caseInput of INPUT.cases) {
  if (INPUT.only && caseInput.name !== INPUT.only) continue;
  const container = document.createElement("div");
  container.className = "case";
  document.getElementById("forms").appendChild(container);
  results.push(renderCase(caseInput, container));
}
document.getElementById("form-results").textContent = JSON.stringify(results);
