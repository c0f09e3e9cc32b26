#!/usr/bin/env python3
"""Rewrites the repetitive parts of contracts/asyncapi.yaml: the channel, the operation, the tags and
one message per kind and action. Everything before `channels:` and the `messageTraits:` and
`schemas:` components are kept as written by hand.

    python3 tools/asyncapi/messages.py contracts/asyncapi.yaml

Add a kind or an action here and in the Rust types together; the contract test
`the_asyncapi_document_has_a_message_for_every_event_type` fails until both agree.
"""
import sys

KINDS = [
    # word, title, noun phrase (for summaries), tag description
    ("unit", "Unit", "an organisation unit",
     "An organisation unit in one of the municipality's hierarchies (ORG OrganisationEnhed, OS2mo org_unit). Class references: unit_type, unit_level, hierarchy."),
    ("person", "Person", "a person",
     "A person (ORG Bruger + Person, OS2mo employee); `cpr` is never included"),
    ("engagement", "Engagement", "a person's employment in a unit",
     "A person's employment in a unit (ORG OrganisationFunktion \\\"Ansat\\\", OS2mo engagement). Class references: job_title, engagement_type."),
    ("manager", "Manager", "a manager role of a unit",
     "A manager role of a unit (ORG OrganisationFunktion \\\"Leder\\\", OS2mo manager). Class references: manager_type, manager_level, responsibilities[] (facet responsibility)."),
    ("address", "Address", "an address of a unit, person or engagement",
     "An address of a unit, person or engagement (ORG Adresse, OS2mo address)"),
    ("kle", "KLE responsibility", "a KLE task responsibility of a unit",
     "A KLE task responsibility of a unit (ORG Opgaver, OS2mo kle)"),
    ("itaccount", "IT account", "a person's account in an IT system",
     "A person's account in an IT system (ORG Bruger in an IT system, OS2mo ituser), tied to the engagements it serves. Class reference: it_system (required)."),
    ("class", "Class", "a class of the municipality's classification",
     "A class in one facet of the municipality's classification: a job title, unit type, IT system, hierarchy, ... (ORG Klasse in a Facet of the Klassifikation, OS2mo class). Other kinds reference classes by UUID; join on the class's uuid for its title."),
    ("group", "Group", "a group across the hierarchies (a project organisation, network or committee)",
     "A group across the hierarchies: a project organisation, network or committee (ORG Interessefællesskab; OS2mo: an org_unit of another hierarchy). Class reference: group_type (required)."),
    ("association", "Association", "a person's typed membership of a unit or a group",
     "A person's typed membership of exactly one unit or group: MED member, AMR, TR, project lead, ... (ORG OrganisationFunktion \\\"Tilknytning\\\", OS2mo association). Class reference: association_type (required)."),
]

ACTIONS = ["created", "updated", "terminated", "deleted", "effective", "expired"]

ACTION_TAGS = {
    "created": "The first registration of an entity (entityversion 1), or its re-creation after a delete.",
    "updated": "A registration changed the timeline without ending it (including future-dated states).",
    "terminated": "A registration ended the validity at a date.",
    "deleted": "Registered in error: `data.deleted` is true and the timeline empty.",
    "effective": "Midnight transition, no write that day: a segment became current (a future-dated change took effect). `data.current` is the new segment, the timeline as in the previous event.",
    "expired": "Midnight transition, no write that day: no segment is valid any more (the validity ended). `data.current` is null, the timeline as in the previous event.",
}


def summary(action, noun):
    return {
        "created": f"Emitted when {noun} is registered for the first time (its first event, entityversion 1).",
        "updated": f"Emitted when a registration changes the timeline of {noun} (new or corrected attributes or validity, including future-dated states) without ending it.",
        "terminated": f"Emitted when the validity of {noun} is ended at a date (`POST .../terminate`): the last timeline segment now has `validity.to` set.",
        "deleted": f"Emitted when {noun} is deleted because it was registered in error (`DELETE`): `data.deleted` is true; remove it from your cache. History keeps it.",
        "effective": f"Emitted just after midnight (Europe/Copenhagen) when a segment of {noun} became current that day without a write that day (a future-dated change took effect): `data.current` is the new segment, the timeline is unchanged. No `traceparent` or `origin`.",
        "expired": f"Emitted just after midnight (Europe/Copenhagen) when the validity of {noun} ended that day without a write that day: `data.current` is null, the timeline is unchanged. No `traceparent` or `origin`.",
    }[action]


def data_schema(word, action):
    ref = f"$ref: './schemas/{word}.v1.json'"
    if action == "effective":
        extra = ["current:", "  type: object", "  description: The segment that became current at midnight."]
    elif action == "expired":
        extra = ["current:", "  type: 'null'", "  description: No segment is valid any more."]
    elif action == "deleted":
        extra = ["deleted:", "  const: true"]
    else:
        return [ref]
    out = ["allOf:", f"  - {ref}", "  - type: object", "    properties:"]
    out += ["      " + e for e in extra]
    return out


def name(word, action):
    return word + action.capitalize()


path = sys.argv[1]
text = open(path).read()
head = text[: text.index("\nchannels:\n") + 1]
tail = text[text.index("\n  messageTraits:\n") + 1 : text.index("\n  messages:\n") + 1]
lines = []
w = lines.append
w(head.rstrip("\n"))
w("")
w("channels:")
w("  orgEvents:")
w("    address: 'org.{kommune}.{kind}.{action}'")
w("    title: Organisation change events")
w("    description: |")
w("      Routing keys on the durable topic exchange `org.events`. Bind your queue with a pattern,")
w("      e.g. `org.751.#` (everything for Aarhus), `org.751.engagement.*` (engagements of Aarhus) or")
w("      `org.751.*.effective` (what took effect at midnight in Aarhus).")
w("    servers:")
w("      - $ref: '#/servers/rabbitmq'")
w("    parameters:")
w("      kommune:")
w("        description: Municipality code (kommunekode), always 3 digits, e.g. 101 København, 751 Aarhus.")
w("        examples:")
w("          - '101'")
w("          - '751'")
w("      kind:")
w("        description: Entity kind.")
w("        enum: [" + ", ".join(k[0] for k in KINDS) + "]")
w("      action:")
w("        description: |")
w("          What happened to the entity: `created`, `updated`, `terminated`, `deleted` follow a")
w("          registration; `effective` and `expired` are the midnight transitions (Europe/Copenhagen).")
w("        enum: [" + ", ".join(ACTIONS) + "]")
w("    messages:")
for k in KINDS:
    for a in ACTIONS:
        w(f"      {name(k[0], a)}:")
        w(f"        $ref: '#/components/messages/{name(k[0], a)}'")
w("    bindings:")
w("      amqp:")
w("        is: routingKey")
w("        exchange:")
w("          name: org.events")
w("          type: topic")
w("          durable: true")
w("          autoDelete: false")
w("          vhost: /")
w("        bindingVersion: 0.3.0")
w("")
w("operations:")
w("  receiveOrgEvents:")
w("    action: receive")
w("    title: Receive organisation change events")
w("    summary: Consume the events of the municipalities and kinds your queue is bound for.")
w("    description: |")
w("      Acknowledge an event only after it is applied (or skipped as not newer). Messages are")
w("      persistent (delivery mode 2) and carry the AMQP properties `message_id` (= `id`),")
w("      `type` (= `type`), `timestamp` (= `time` in seconds) and `app_id` (`orghub-writer`).")
w("    channel:")
w("      $ref: '#/channels/orgEvents'")
w("    messages:")
for k in KINDS:
    for a in ACTIONS:
        w(f"      - $ref: '#/channels/orgEvents/messages/{name(k[0], a)}'")
w("    bindings:")
w("      amqp:")
w("        ack: true")
w("        deliveryMode: 2")
w("        timestamp: true")
w("        bindingVersion: 0.3.0")
w("")
w("components:")
w("  securitySchemes:")
w("    subscriberUser:")
w("      type: userPassword")
w("      description: A RabbitMQ user per subscriber, provisioned by `orghubctl subscriber create`.")
w("")
w("  tags:")
for k in KINDS:
    w(f"    {k[0]}:")
    w(f"      name: {k[0]}")
    w(f"      description: \"{k[3]}\"")
for a in ACTIONS:
    w(f"    {a}:")
    w(f"      name: {a}")
    w(f"      description: \"{ACTION_TAGS[a]}\"")
w("")
w(tail.rstrip("\n"))
w("")
w("  messages:")
for word, title, noun, _ in KINDS:
    for a in ACTIONS:
        t = f"dk.orghub.org.{word}.{a}.v1"
        w(f"    {name(word, a)}:")
        w(f"      name: {name(word, a)}")
        w(f"      title: {title} {a}")
        w(f"      summary: \"{summary(a, noun)}\"")
        w(f"      description: \"Example: `examples/{word}.{a}.json`.\"")
        w("      contentType: application/cloudevents+json")
        w("      tags:")
        w(f"        - $ref: '#/components/tags/{word}'")
        w(f"        - $ref: '#/components/tags/{a}'")
        w("      traits:")
        w("        - $ref: '#/components/messageTraits/cloudEventAmqp'")
        w("      headers:")
        w("        allOf:")
        w("          - $ref: '#/components/schemas/CloudEventAmqpHeaders'")
        w("          - type: object")
        w("            properties:")
        w("              ce-type:")
        w(f"                const: {t}")
        w("      payload:")
        w("        allOf:")
        w("          - $ref: '#/components/schemas/CloudEventEnvelope'")
        w("          - type: object")
        w("            properties:")
        w("              type:")
        w(f"                const: {t}")
        w("              dataschema:")
        w(f"                const: 'urn:orghub:schema:{word}:v1'")
        w("              data:")
        for line in data_schema(word, a):
            w("                " + line)
        w("      bindings:")
        w("        amqp:")
        w(f"          messageType: {t}")
        w("          bindingVersion: 0.3.0")
with open(path, "w") as out:
    out.write("\n".join(lines) + "\n")
