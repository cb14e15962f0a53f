using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Torch.Modules;

namespace Distill.Runtime;

/// <summary>What a checkpoint holds, as its JSON file records it (no tensors are loaded to read this).</summary>
/// <param name="Name">The checkpoint's name: the two files are <c>&lt;Name&gt;.safetensors</c> and <c>&lt;Name&gt;.json</c>.</param>
/// <param name="Metric">The tracked metric's value at this checkpoint, when one was given.</param>
/// <param name="BestMetric">The best value of the tracked metric up to and including this checkpoint.</param>
public sealed record CheckpointInfo(
    string Name,
    string StatePath,
    string TensorsPath,
    int Epoch,
    long BatchInEpoch,
    long GlobalStep,
    double? Metric,
    double? BestMetric,
    DateTimeOffset SavedUtc);

/// <summary>
/// One checkpoint: a safetensors file with every tensor of a <see cref="TrainingState"/> under prefixed
/// names (<c>model.&lt;module&gt;.&lt;key&gt;</c>, <c>optim.&lt;optimizer&gt;.state.&lt;i&gt;.&lt;name&gt;</c>,
/// <c>rng.global</c>, <c>rng.&lt;generator&gt;</c>) and a JSON file with the rest (counters, optimizer
/// hyper-parameters, scheduler states, extras) that also records the tensor file's size and SHA-256.
/// Each file is written atomically; <see cref="Checkpointer"/> makes the pair atomic with a pointer file.
/// Use this class directly to read a checkpoint some other run wrote (<see cref="LoadModule"/>).
/// </summary>
public static class Checkpoint
{
    public const string StateFormat = "distill.checkpoint";
    public const string PointerFormat = "distill.checkpoint-pointer";
    public const int FormatVersion = 1;

    internal const string ModelPrefix = "model.";
    internal const string OptimizerPrefix = "optim.";
    internal const string RngPrefix = "rng.";
    internal const string StatePrefix = "state.";

    // ---- writing -----------------------------------------------------------------------------------

    /// <summary>
    /// Writes <c>&lt;name&gt;.safetensors</c> then <c>&lt;name&gt;.json</c> into <paramref name="directory"/>,
    /// each through a temporary file, flushed to disk and renamed. <paramref name="afterTensors"/> runs
    /// between the two (a test hook that simulates a crash there).
    /// </summary>
    internal static CheckpointInfo Write(string directory, string name, TrainingState state, double? metric, DateTimeOffset now,
                                         Action<string>? afterTensors = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        Directory.CreateDirectory(directory);
        var tensorsPath = Path.Combine(directory, name + ".safetensors");
        var statePath = Path.Combine(directory, name + ".json");

        var optimizerJson = new List<(string name, string json)>();
        using (torch.NewDisposeScope())
        {
            var tensors = new List<KeyValuePair<string, Tensor>>();
            foreach (var (moduleName, module) in state.Modules)
                foreach (var (key, t) in module.state_dict())
                    tensors.Add(new($"{ModelPrefix}{moduleName}.{key}", t));
            foreach (var (optimizerName, optimizer) in state.Optimizers)
            {
                // The state's tensors are new handles created in this scope: the scope frees them.
                var s = optimizer.state_dict();
                foreach (var (key, t) in s.Tensors) tensors.Add(new($"{OptimizerPrefix}{optimizerName}.{key}", t));
                optimizerJson.Add((optimizerName, s.Json));
            }
            foreach (var (stateName, tensorState) in state.TensorStates)
                foreach (var (key, t) in tensorState.Save())
                    tensors.Add(new($"{StatePrefix}{stateName}.{key}", t));
            if (state.IncludeGlobalGenerator) tensors.Add(new(RngPrefix + TrainingState.GlobalGenerator, Generator.get_default_state()));
            foreach (var (generatorName, generator) in state.Generators)
                tensors.Add(new(RngPrefix + generatorName, generator.get_state()));
            Safetensors.Save(tensorsPath, tensors, new Dictionary<string, string> { [StateFormat] = name });
        }
        var (bytes, sha) = Hash(tensorsPath);
        afterTensors?.Invoke(tensorsPath);

        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", StateFormat);
            w.WriteNumber("version", FormatVersion);
            w.WriteString("name", name);
            w.WriteString("saved_utc", now.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            w.WriteStartObject("tensors");
            w.WriteString("file", Path.GetFileName(tensorsPath));
            w.WriteNumber("bytes", bytes);
            w.WriteString("sha256", sha);
            w.WriteEndObject();
            w.WriteNumber("epoch", state.Epoch);
            w.WriteNumber("batch_in_epoch", state.BatchInEpoch);
            w.WriteNumber("global_step", state.GlobalStep);
            JsonNumbers.Write(w, "metric", metric);
            JsonNumbers.Write(w, "best_metric", state.BestMetric);
            w.WriteStartArray("modules");
            foreach (var moduleName in state.Modules.Keys) w.WriteStringValue(moduleName);
            w.WriteEndArray();
            w.WriteStartObject("optimizers");
            foreach (var (optimizerName, json) in optimizerJson)
            {
                w.WritePropertyName(optimizerName);
                w.WriteRawValue(json);
            }
            w.WriteEndObject();
            w.WriteStartObject("schedulers");
            foreach (var (schedulerName, scheduler) in state.Schedulers)
            {
                w.WritePropertyName(schedulerName);
                w.WriteRawValue(scheduler.state_dict());
            }
            w.WriteEndObject();
            w.WriteStartArray("generators");
            if (state.IncludeGlobalGenerator) w.WriteStringValue(TrainingState.GlobalGenerator);
            foreach (var generatorName in state.Generators.Keys) w.WriteStringValue(generatorName);
            w.WriteEndArray();
            w.WriteStartArray("tensor_states");
            foreach (var stateName in state.TensorStates.Keys) w.WriteStringValue(stateName);
            w.WriteEndArray();
            w.WritePropertyName("extras");
            state.Extras.WriteTo(w);
            w.WriteEndObject();
        }
        AtomicFile.WriteAllBytes(statePath, buffer.WrittenSpan);
        return new CheckpointInfo(name, statePath, tensorsPath, state.Epoch, state.BatchInEpoch, state.GlobalStep, metric, state.BestMetric, now);
    }

    private static (long bytes, string sha256) Hash(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var hash = SHA256.HashData(stream);
        return (stream.Length, Convert.ToHexStringLower(hash));
    }

    // ---- pointers ----------------------------------------------------------------------------------

    internal static void WritePointer(string pointerPath, CheckpointInfo info)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", PointerFormat);
            w.WriteNumber("version", FormatVersion);
            w.WriteString("checkpoint", info.Name);
            w.WriteString("state", Path.GetFileName(info.StatePath));
            w.WriteString("tensors", Path.GetFileName(info.TensorsPath));
            w.WriteNumber("epoch", info.Epoch);
            w.WriteNumber("global_step", info.GlobalStep);
            JsonNumbers.Write(w, "metric", info.Metric);
            w.WriteString("saved_utc", info.SavedUtc.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        AtomicFile.WriteAllBytes(pointerPath, buffer.WrittenSpan);
    }

    /// <summary>
    /// The state JSON a path designates: a state file itself, a pointer file (<c>latest.json</c>,
    /// <c>best.json</c>), a tensor file (its sibling JSON), a checkpoints directory or a run directory
    /// (their <c>latest.json</c>).
    /// </summary>
    public static string ResolveStatePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            var checkpoints = Path.Combine(full, RunDirectory.CheckpointsFolder);
            var dir = Directory.Exists(checkpoints) ? checkpoints : full;
            var latest = Path.Combine(dir, Checkpointer.LatestPointer);
            if (!File.Exists(latest))
                throw new CheckpointException(dir, $"no checkpoint in '{dir}': it has no {Checkpointer.LatestPointer}");
            return ResolveStatePath(latest);
        }
        if (!File.Exists(full)) throw new CheckpointException(full, $"checkpoint '{full}' does not exist");
        if (full.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return ResolveStatePath(Path.ChangeExtension(full, ".json"));
        using var doc = ParseJson(full, "checkpoint file");
        var format = doc.RootElement.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        if (format == StateFormat) return full;
        if (format != PointerFormat)
            throw new CheckpointException(full, $"'{full}' is neither a checkpoint nor a checkpoint pointer (its \"format\" is {(format is null ? "missing" : $"'{format}'")})");
        var state = RequiredString(doc.RootElement, "state", full);
        var target = Path.Combine(Path.GetDirectoryName(full)!, state);
        if (!File.Exists(target))
            throw new CheckpointException(target, $"checkpoint pointer '{full}' names '{state}', which does not exist in '{Path.GetDirectoryName(full)}'");
        return target;
    }

    // ---- reading -----------------------------------------------------------------------------------

    /// <summary>Reads what a checkpoint holds from its JSON file (see <see cref="ResolveStatePath"/> for the paths accepted).</summary>
    public static CheckpointInfo ReadInfo(string path)
    {
        var statePath = ResolveStatePath(path);
        using var doc = ParseJson(statePath, "checkpoint state");
        return Info(statePath, doc.RootElement);
    }

    private static CheckpointInfo Info(string statePath, JsonElement root)
    {
        try
        {
            var tensors = root.GetProperty("tensors");
            var file = tensors.GetProperty("file").GetString() ?? throw new FormatException("tensors.file is null");
            return new CheckpointInfo(
                root.GetProperty("name").GetString() ?? Path.GetFileNameWithoutExtension(statePath),
                statePath,
                Path.Combine(Path.GetDirectoryName(statePath)!, file),
                root.GetProperty("epoch").GetInt32(),
                root.GetProperty("batch_in_epoch").GetInt64(),
                root.GetProperty("global_step").GetInt64(),
                JsonNumbers.Read(root.GetProperty("metric")),
                JsonNumbers.Read(root.GetProperty("best_metric")),
                DateTimeOffset.Parse(root.GetProperty("saved_utc").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new CheckpointException(statePath, $"checkpoint state '{statePath}' is malformed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Restores a checkpoint into <paramref name="state"/> in place: module parameters and buffers,
    /// optimizer state, scheduler state, generator states, counters, best metric and extras.
    /// Everything is checked before anything changes: a missing or corrupt file, a module whose keys or
    /// shapes differ, or (with <paramref name="strict"/>) an object the checkpoint holds but the state
    /// does not register is a <see cref="CheckpointException"/> naming the file and every problem.
    /// </summary>
    public static CheckpointInfo Restore(string path, TrainingState state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var statePath = ResolveStatePath(path);
        using var doc = ParseJson(statePath, "checkpoint state");
        var root = doc.RootElement;
        CheckFormat(statePath, root);
        var info = Info(statePath, root);
        using var content = ReadTensors(statePath, root, info.TensorsPath);
        var tensors = content.ToDictionary();

        var savedModules = StringArray(root, "modules", statePath);
        var savedOptimizers = ObjectMembers(root, "optimizers", statePath);
        var savedSchedulers = ObjectMembers(root, "schedulers", statePath);
        var savedGenerators = StringArray(root, "generators", statePath);
        // Checkpoints written before tensor states existed have none.
        var savedTensorStates = root.TryGetProperty("tensor_states", out _) ? StringArray(root, "tensor_states", statePath) : [];

        // ---- check everything first ----
        var problems = new List<string>();
        foreach (var (name, module) in state.Modules)
        {
            if (!savedModules.Contains(name))
            {
                problems.Add($"the checkpoint has no module '{name}' (it has: {List(savedModules)})");
                continue;
            }
            problems.AddRange(CompareModule(name, module, Prefixed(tensors, $"{ModelPrefix}{name}.")));
        }
        Compare(problems, "optimizer", state.Optimizers.Keys, savedOptimizers.Keys, strict);
        Compare(problems, "scheduler", state.Schedulers.Keys, savedSchedulers.Keys, strict);
        var wantedGenerators = (state.IncludeGlobalGenerator ? [TrainingState.GlobalGenerator] : Array.Empty<string>()).Concat(state.Generators.Keys).ToList();
        Compare(problems, "generator", wantedGenerators, savedGenerators, strict);
        Compare(problems, "tensor state", state.TensorStates.Keys, savedTensorStates, strict);
        if (strict)
            foreach (var name in savedModules)
                if (!state.Modules.ContainsKey(name))
                    problems.Add($"the checkpoint holds module '{name}', which the training state does not register");
        foreach (var name in wantedGenerators)
            if (savedGenerators.Contains(name) && !tensors.ContainsKey(RngPrefix + name))
                problems.Add($"the tensor file has no '{RngPrefix}{name}'");
        if (problems.Count > 0)
            throw new CheckpointException(statePath,
                $"checkpoint '{statePath}' does not match the training state:\n  - {string.Join("\n  - ", problems)}");

        // ---- then restore; the optimizers check their own state before changing anything ----
        foreach (var (name, optimizer) in state.Optimizers)
        {
            var s = new OptimizerState(Prefixed(tensors, $"{OptimizerPrefix}{name}."), savedOptimizers[name].GetRawText());
            Apply(statePath, $"optimizer '{name}'", () => optimizer.load_state_dict(s));
        }
        foreach (var (name, scheduler) in state.Schedulers)
            Apply(statePath, $"scheduler '{name}'", () => scheduler.load_state_dict(savedSchedulers[name].GetRawText()));
        foreach (var (name, module) in state.Modules)
            Apply(statePath, $"module '{name}'", () => module.load_state_dict(Prefixed(tensors, $"{ModelPrefix}{name}."), strict: true));
        foreach (var (name, tensorState) in state.TensorStates)
            Apply(statePath, $"tensor state '{name}'", () => tensorState.Load(Prefixed(tensors, $"{StatePrefix}{name}.")));
        foreach (var name in wantedGenerators)
        {
            var t = tensors[RngPrefix + name];
            Apply(statePath, $"generator '{name}'", () =>
            {
                if (name == TrainingState.GlobalGenerator) Generator.set_default_state(t);
                else state.Generators[name].set_state(t);
            });
        }
        state.Epoch = info.Epoch;
        state.BatchInEpoch = info.BatchInEpoch;
        state.GlobalStep = info.GlobalStep;
        state.BestMetric = info.BestMetric;
        state.Extras = root.TryGetProperty("extras", out var extras) && extras.ValueKind == JsonValueKind.Object
            ? JsonNode.Parse(extras.GetRawText())!.AsObject()
            : new JsonObject();
        return info;
    }

    /// <summary>
    /// Loads one module's weights from a checkpoint (another run's teacher, say), leaving everything
    /// else alone. Keys must match exactly; a mismatch names the missing and unexpected keys.
    /// </summary>
    public static CheckpointInfo LoadModule(string path, string moduleName, Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return WithModuleWeights(path, moduleName, (info, weights) =>
        {
            var statePath = info.StatePath;
            var problems = CompareModule(moduleName, module, weights).ToList();
            if (problems.Count > 0)
                throw new CheckpointException(statePath, $"checkpoint '{statePath}' does not match the model:\n  - {string.Join("\n  - ", problems)}");
            Apply(statePath, $"module '{moduleName}'", () => module.load_state_dict(weights, strict: true));
        });
    }

    /// <summary>
    /// Reads a checkpoint and hands <paramref name="use"/> what it holds and module <paramref name="moduleName"/>'s
    /// weights under their own names (the checkpoint's prefix removed), alive for the call.
    /// </summary>
    private static CheckpointInfo WithModuleWeights(string path, string moduleName, Action<CheckpointInfo, Dictionary<string, Tensor>> use)
    {
        var statePath = ResolveStatePath(path);
        using var doc = ParseJson(statePath, "checkpoint state");
        var root = doc.RootElement;
        CheckFormat(statePath, root);
        var info = Info(statePath, root);
        var savedModules = StringArray(root, "modules", statePath);
        if (!savedModules.Contains(moduleName))
            throw new CheckpointException(statePath, $"checkpoint '{statePath}' has no module '{moduleName}' (it has: {List(savedModules)})");
        using var content = ReadTensors(statePath, root, info.TensorsPath);
        use(info, Prefixed(content.ToDictionary(), $"{ModelPrefix}{moduleName}."));
        return info;
    }

    /// <summary>
    /// Writes module <paramref name="moduleName"/> of a checkpoint as a plain safetensors state dict with PyTorch's names
    /// (<c>conv1.weight</c>, <c>bn1.running_mean</c>, ...), which <c>checkpoint:</c> loads as a teacher and PyTorch's
    /// <c>safetensors.torch.load_file</c> reads. Written through a temporary file and a rename; the metadata names the
    /// source checkpoint, its epoch and step.
    /// </summary>
    public static CheckpointInfo ExportModule(string path, string moduleName, string destination)
    {
        var full = Path.GetFullPath(destination);
        return WithModuleWeights(path, moduleName, (info, weights) =>
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
            var metadata = new Dictionary<string, string>
            {
                ["source"] = info.StatePath,
                ["module"] = moduleName,
                ["epoch"] = info.Epoch.ToString(CultureInfo.InvariantCulture),
                ["step"] = info.GlobalStep.ToString(CultureInfo.InvariantCulture),
            };
            Safetensors.Save(temp, weights.OrderBy(kv => kv.Key, StringComparer.Ordinal), metadata);
            File.Move(temp, full, overwrite: true);
        });
    }

    private static Safetensors.Content ReadTensors(string statePath, JsonElement root, string tensorsPath)
    {
        if (!File.Exists(tensorsPath))
            throw new CheckpointException(tensorsPath, $"checkpoint tensors '{tensorsPath}' (named by '{statePath}') do not exist");
        var tensors = root.GetProperty("tensors");
        var expectedBytes = tensors.TryGetProperty("bytes", out var b) && b.TryGetInt64(out var nb) ? nb : -1;
        var expectedSha = tensors.TryGetProperty("sha256", out var s) ? s.GetString() : null;
        var (bytes, sha) = Hash(tensorsPath);
        if (expectedBytes >= 0 && bytes != expectedBytes)
            throw new CheckpointException(tensorsPath, $"checkpoint tensors '{tensorsPath}' are corrupt: {bytes} bytes, but '{statePath}' records {expectedBytes} (truncated or overwritten)");
        if (expectedSha is not null && !string.Equals(sha, expectedSha, StringComparison.OrdinalIgnoreCase))
            throw new CheckpointException(tensorsPath, $"checkpoint tensors '{tensorsPath}' are corrupt: their SHA-256 {sha} differs from {expectedSha} recorded in '{statePath}'");
        try
        {
            return Safetensors.Read(tensorsPath);
        }
        catch (TorchException e)
        {
            throw new CheckpointException(tensorsPath, $"checkpoint tensors '{tensorsPath}' cannot be read: {e.Message}", e);
        }
    }

    private static IEnumerable<string> CompareModule(string name, Module module, Dictionary<string, Tensor> saved)
    {
        var missing = new List<string>();
        var mismatched = new List<string>();
        var live = new HashSet<string>(StringComparer.Ordinal);
        using (torch.NewDisposeScope())
        {
            foreach (var (key, t) in module.state_dict())
            {
                live.Add(key);
                if (!saved.TryGetValue(key, out var s)) missing.Add(key);
                else if (!s.shape.AsSpan().SequenceEqual(t.shape))
                    mismatched.Add($"'{key}' is [{string.Join(", ", s.shape)}] in the checkpoint but [{string.Join(", ", t.shape)}] in the model");
            }
        }
        var unexpected = saved.Keys.Where(k => !live.Contains(k)).ToList();
        if (missing.Count > 0) yield return $"module '{name}': missing keys (in the model, not in the checkpoint): {Quoted(missing)}";
        if (unexpected.Count > 0) yield return $"module '{name}': unexpected keys (in the checkpoint, not in the model): {Quoted(unexpected)}";
        foreach (var m in mismatched) yield return $"module '{name}': size mismatch: {m}";
    }

    private static void Compare(List<string> problems, string kind, IEnumerable<string> wanted, IEnumerable<string> saved, bool strict)
    {
        var savedSet = saved.ToHashSet(StringComparer.Ordinal);
        var wantedList = wanted.ToList();
        foreach (var name in wantedList)
            if (!savedSet.Contains(name)) problems.Add($"the checkpoint has no {kind} '{name}' (it has: {List(savedSet)})");
        if (!strict) return;
        foreach (var name in savedSet)
            if (!wantedList.Contains(name))
                problems.Add(kind == "generator" && name == TrainingState.GlobalGenerator
                    ? "the checkpoint holds the global generator's state, which the training state leaves out (set IncludeGlobalGenerator, or restore with strict: false)"
                    : $"the checkpoint holds {kind} '{name}', which the training state does not register");
    }

    private static void Apply(string statePath, string what, Action action)
    {
        try
        {
            action();
        }
        catch (TorchException e)
        {
            throw new CheckpointException(statePath, $"checkpoint '{statePath}': {what} cannot be restored: {e.Message}", e);
        }
    }

    private static Dictionary<string, Tensor> Prefixed(Dictionary<string, Tensor> tensors, string prefix)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, t) in tensors)
            if (key.StartsWith(prefix, StringComparison.Ordinal)) result[key[prefix.Length..]] = t;
        return result;
    }

    private static string Quoted(IEnumerable<string> keys)
    {
        var list = keys.ToList();
        const int shown = 20;
        var text = string.Join(", ", list.Take(shown).Select(k => $"\"{k}\""));
        return list.Count > shown ? $"{text} and {list.Count - shown} more" : text;
    }

    private static string List(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list);
    }

    // ---- JSON helpers ----------------------------------------------------------------------------------

    internal static JsonDocument ParseJson(string path, string what)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"{what} '{path}' cannot be read: {e.Message}", e);
        }
        try
        {
            var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
            doc.Dispose();
            throw new CheckpointException(path, $"{what} '{path}' is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"{what} '{path}' is corrupt: not valid JSON ({e.Message})", e);
        }
    }

    private static void CheckFormat(string path, JsonElement root)
    {
        if (!root.TryGetProperty("format", out var f) || f.ValueKind != JsonValueKind.String || f.GetString() != StateFormat)
            throw new CheckpointException(path, $"'{path}' is not a checkpoint state (its \"format\" is not '{StateFormat}')");
        if (!root.TryGetProperty("version", out var v) || !v.TryGetInt32(out var version) || version > FormatVersion)
            throw new CheckpointException(path, $"checkpoint '{path}' has format version {(root.TryGetProperty("version", out var vv) ? vv.GetRawText() : "?")}; this build reads version {FormatVersion}");
    }

    private static string RequiredString(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String
            ? e.GetString()!
            : throw new CheckpointException(path, $"'{path}' is malformed: it has no string \"{name}\"");

    private static List<string> StringArray(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind != JsonValueKind.Array || e.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            throw new CheckpointException(path, $"checkpoint state '{path}' is malformed: \"{name}\" is not a list of names");
        return e.EnumerateArray().Select(x => x.GetString()!).ToList();
    }

    private static Dictionary<string, JsonElement> ObjectMembers(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(path, $"checkpoint state '{path}' is malformed: \"{name}\" is not an object");
        return e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
    }
}
