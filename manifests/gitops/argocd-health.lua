-- Argo CD health check for hopper.dev/HopperInstance.
-- Mirrors kstatus (sigs.k8s.io/cli-utils), so Argo CD and Flux agree:
--   Healthy/Suspended <-> Current, Progressing <-> InProgress, Degraded <-> Failed.
-- Written for the runtime Argo CD gives scripts from argocd-cm (gopher-lua, Lua 5.1: the
-- base, table and package libraries and os.time/os.date only): no string.*, no math.*.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local status = obj.status
local generation = obj.metadata.generation

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Pending deletion"
  return hs
end

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for status"
  return hs
end

if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    .. " (status describes generation " .. tostring(status.observedGeneration) .. ")"
  return hs
end

-- Like kstatus: the first of Reconciling/Stalled that is True decides (the operator never
-- sets both).
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "Stalled" and c.status == "True" then
      hs.status = "Degraded"
      hs.message = text(c, "Stalled")
      return hs
    end
    if c.type == "Reconciling" and c.status == "True" then
      hs.status = "Progressing"
      hs.message = text(c, "Reconciling")
      return hs
    end
  end
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  if status.phase == "Paused" then
    hs.status = "Suspended"
    hs.message = text(ready, "Paused")
    return hs
  end
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end

if status.phase == "Error" then
  hs.status = "Degraded"
  hs.message = text(ready, "Error")
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for status"
return hs
