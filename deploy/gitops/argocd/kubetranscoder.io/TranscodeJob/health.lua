-- Argo CD health check for kubetranscoder.io/TranscodeJob.
--
-- Install it under `resource.customizations.health.kubetranscoder.io_TranscodeJob`
-- in the argocd-cm ConfigMap (or build it into Argo CD from this
-- resource_customizations layout). Argo CD runs it with the live object in
-- `obj` and shows the returned status:
--   Healthy      the job Succeeded (condition Succeeded=True or phase Succeeded)
--   Degraded     the job Failed (condition Failed=True, phase Failed) or is
--                Stalled=True (kstatus: no progress without a change)
--   Suspended    spec.suspend is true and the job has not finished
--   Progressing  everything else: not yet seen by the operator, an unobserved
--                generation, phase Pending/Scheduling/Running/Uploading
-- Written for Argo CD's Lua 5.1 (gopher-lua); tests: health_test.yaml.

local hs = {}

local function condition(status, type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

-- "Reason: message", or whichever of the two is set, or the fallback.
local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  if c.reason ~= nil and c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil then
    return c.reason
  end
  return fallback
end

local function number_text(n)
  if n == math.floor(n) then
    return string.format("%d", n)
  end
  return string.format("%.1f", n)
end

local status = obj.status
local spec = obj.spec or {}
local generation = obj.metadata and obj.metadata.generation

if status == nil or (status.phase == nil and status.conditions == nil) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the job"
  return hs
end

if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. number_text(generation)
  return hs
end

local failed = condition(status, "Failed")
local stalled = condition(status, "Stalled")
local succeeded = condition(status, "Succeeded")

if is_true(failed) or status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(failed, status.message or "Failed")
  return hs
end

if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if is_true(succeeded) or status.phase == "Succeeded" then
  hs.status = "Healthy"
  local meta = status.metadata or {}
  local parts = {}
  if meta.encoderUsed ~= nil then
    table.insert(parts, "encoder " .. meta.encoderUsed)
  end
  if meta.gpuFallback == true and meta.fallbackReason ~= nil then
    table.insert(parts, "CPU fallback " .. meta.fallbackReason)
  end
  if meta.processingSpeed ~= nil then
    table.insert(parts, number_text(meta.processingSpeed) .. "x realtime")
  end
  hs.message = "Succeeded"
  if #parts > 0 then
    hs.message = hs.message .. ": " .. table.concat(parts, ", ")
  end
  return hs
end

if spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended (spec.suspend is true)"
  return hs
end

hs.status = "Progressing"
local phase = status.phase or "Pending"
hs.message = phase
if status.progress ~= nil and status.progress.percent ~= nil then
  hs.message = phase .. ": " .. number_text(status.progress.percent) .. "%"
elseif status.message ~= nil and status.message ~= "" then
  hs.message = phase .. ": " .. status.message
end
return hs
