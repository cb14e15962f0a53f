using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Distill.Generators.Tests.Mutation;

// The generator under bad input (issue 16). Mutants of the repository's own experiment files
// (experiments/**/*.distill.yaml) go through the generator; each is checked for exceptions, hangs, generator
// time over a limit, diagnostics located outside their file, code emitted for an experiment with errors, and
// generated files that do not compile without errors and warnings. Prints a summary table.
//
//   dotnet run -c Release --project tests/Distill.Generators.Fuzz -- --mutants 10000 --seed 1
//
// Options: --mutants N (10000), --seed S (1), --batch B (mutants compiled together, 100), --slow-ms T (1000: a
// generator run longer than this counts), --hang-s H (60: a mutant with no progress for this long is a hang),
// --save DIR (write each failing mutant's files and report there), --out FILE (also write the summary there),
// --repo DIR (the repository root; found above the program otherwise).
//
// A supervisor process runs the mutants in a worker process and reads its progress: a worker that dies (a stack
// overflow cannot be caught) or stops making progress is a crash or a hang of the mutant it was running; the
// supervisor records it and starts a new worker after it.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var options = FuzzOptions.Parse(args);
if (options.Worker) return Worker.Run(options);
return Supervisor.Run(options);

internal sealed record FuzzOptions(int Mutants, int Seed, int Batch, double SlowMilliseconds, double HangSeconds, string? Save, string? Out, string Repo,
    bool Worker, int From, int To, HashSet<int> Skip)
{
    public static FuzzOptions Parse(string[] args)
    {
        int mutants = 10_000, seed = 1, batch = 100, from = 0, to = -1;
        double slow = 1000, hang = 60;
        string? save = null, output = null, repo = null;
        var worker = false;
        var skip = new HashSet<int>();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--mutants": mutants = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seed": seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--batch": batch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--slow-ms": slow = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--hang-s": hang = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--save": save = Next(); break;
                case "--out": output = Next(); break;
                case "--repo": repo = Next(); break;
                case "--worker": worker = true; break;
                case "--from": from = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--to": to = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--skip":
                    foreach (var s in Next().Split(',', StringSplitOptions.RemoveEmptyEntries)) skip.Add(int.Parse(s, CultureInfo.InvariantCulture));
                    break;
                case "-h" or "--help":
                    Console.WriteLine("dotnet run -c Release --project tests/Distill.Generators.Fuzz -- [--mutants N] [--seed S] [--batch B] [--slow-ms T] [--hang-s H] [--save DIR] [--out FILE] [--repo DIR]");
                    Environment.Exit(0);
                    break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        repo ??= FindRepo();
        return new FuzzOptions(mutants, seed, Math.Max(1, batch), slow, hang, save, output, repo, worker, from, to < 0 ? mutants : to, skip);
    }

    private static string FindRepo()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("Dsl.sln not found: pass --repo");
    }
}

/// <summary>One mutant's result as the worker reports it to the supervisor (a JSON line).</summary>
internal sealed record Result(int Index, string Kind, double Milliseconds, bool Diagnosed, bool Generated, int Unlocated, int Inconsistent,
    int FilesWithErrors, int FilesWithWarnings, string[] Ids, string? Report, bool Errors = false)
{
    public const string Ok = "ok", Exception = "exception", Crash = "crash", Hang = "hang";
}

internal static class Worker
{
    public static int Run(FuzzOptions o)
    {
        var seeds = YamlMutator.RepositoryExperiments(o.Repo);
        var bases = YamlMutator.RepositoryBases(o.Repo);
        var mutator = new YamlMutator(seeds, bases);
        var checker = new MutantChecker();
        // One untimed run first: the first run of a process pays for JIT compilation, which is no mutant's cost.
        checker.Generate(new Mutant(-1, "warm-up", [seeds[0], .. bases]));
        var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
        var pending = new List<MutantOutcome>();

        void Flush()
        {
            if (pending.Count == 0) return;
            stdout.WriteLine($"COMPILE {pending[0].Mutant.Index} {pending[^1].Mutant.Index}");
            checker.Compile(pending.Where(p => p.Exception is null && !p.HasErrors && p.Generated.Count > 0).ToList());
            foreach (var p in pending)
            {
                var result = new Result(p.Mutant.Index, p.Exception is null ? Result.Ok : Result.Exception, p.GeneratorMilliseconds, p.Diagnostics.Length > 0,
                    p.Generated.Count > 0, p.Unlocated.Count, p.Inconsistent.Count, p.FilesWithErrors.Count, p.FilesWithWarnings.Count,
                    p.Diagnostics.Select(d => d.Id).Distinct().OrderBy(x => x, StringComparer.Ordinal).ToArray(),
                    p.Failed(o.SlowMilliseconds) ? p.Describe() : null, p.HasErrors);
                stdout.WriteLine("DONE " + JsonSerializer.Serialize(result));
            }
            pending.Clear();
        }

        for (var k = o.From; k < o.To; k++)
        {
            if (o.Skip.Contains(k)) continue;
            stdout.WriteLine($"START {k}");
            var mutant = mutator.Create(k, o.Seed);
            stdout.WriteLine($"MUTANT {k} {mutant.Description.Replace('\n', ' ')}");
            pending.Add(checker.Generate(mutant));
            if (pending.Count >= o.Batch) Flush();
        }
        Flush();
        return 0;
    }
}

internal static class Supervisor
{
    public static int Run(FuzzOptions o)
    {
        var seeds = YamlMutator.RepositoryExperiments(o.Repo);
        var clock = Stopwatch.StartNew();
        var results = new Dictionary<int, Result>();
        var culprits = new HashSet<int>();
        while (true)
        {
            var next = Enumerable.Range(0, o.Mutants).FirstOrDefault(i => !results.ContainsKey(i), o.Mutants);
            if (next == o.Mutants) break;
            var before = results.Count;
            RunWorker(o, next, culprits, results);
            // A worker that died or hung recorded its culprit (a mutant, or the batch it was compiling): the next one starts after it.
            if (results.Count == before) throw new InvalidOperationException($"the worker made no progress from mutant {next}");
        }

        var report = Summary(o, seeds.Count, results, clock.Elapsed);
        Console.WriteLine(report);
        if (o.Out is { } path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, report + "\n");
        }
        if (o.Save is { } dir)
        {
            Directory.CreateDirectory(dir);
            foreach (var r in results.Values.Where(r => r.Report is not null).OrderBy(r => r.Index))
                File.WriteAllText(Path.Combine(dir, $"mutant-{r.Index}.txt"), r.Report);
        }
        return results.Values.Any(r => Failed(r, o)) ? 1 : 0;
    }

    private static bool Failed(Result r, FuzzOptions o) =>
        r.Kind != Result.Ok || r.Milliseconds > o.SlowMilliseconds || r.Unlocated > 0 || r.Inconsistent > 0 || r.FilesWithErrors > 0 || r.FilesWithWarnings > 0;

    /// <summary>
    /// Runs one worker from <paramref name="from"/> to the end, recording its results. When it dies or hangs, the mutant it was
    /// running (added to <paramref name="culprits"/>, which later workers skip) or the batch it was compiling is recorded as such.
    /// </summary>
    private static void RunWorker(FuzzOptions o, int from, HashSet<int> culprits, Dictionary<int, Result> results)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var start = new ProcessStartInfo(self)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        // Running through "dotnet Program.dll", the program's path is an argument.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(Supervisor).Assembly.Location);
        foreach (var a in new[]
                 {
                     "--worker", "--repo", o.Repo, "--seed", o.Seed.ToString(CultureInfo.InvariantCulture), "--mutants", o.Mutants.ToString(CultureInfo.InvariantCulture),
                     "--from", from.ToString(CultureInfo.InvariantCulture), "--to", o.Mutants.ToString(CultureInfo.InvariantCulture),
                     "--batch", o.Batch.ToString(CultureInfo.InvariantCulture), "--slow-ms", o.SlowMilliseconds.ToString(CultureInfo.InvariantCulture),
                     "--skip", string.Join(",", culprits),
                 })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();

        int? running = null;
        (int, int)? compiling = null;
        string? description = null;
        var lastProgress = Stopwatch.StartNew();
        var lines = new System.Collections.Concurrent.BlockingCollection<string?>();
        var reader = new Thread(() =>
        {
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null) lines.Add(line);
            lines.Add(null);
        }) { IsBackground = true };
        reader.Start();
        var done = results.Count;
        while (true)
        {
            if (!lines.TryTake(out var line, TimeSpan.FromSeconds(1)))
            {
                if (lastProgress.Elapsed.TotalSeconds > o.HangSeconds)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit();
                    Blame(Result.Hang, $"no progress for {o.HangSeconds} s");
                    return;
                }
                continue;
            }
            if (line is null) break;
            lastProgress.Restart();
            if (line.StartsWith("START ", StringComparison.Ordinal))
            {
                running = int.Parse(line[6..], CultureInfo.InvariantCulture);
                compiling = null;
            }
            else if (line.StartsWith("MUTANT ", StringComparison.Ordinal))
            {
                description = line;
            }
            else if (line.StartsWith("COMPILE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                compiling = (int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
            }
            else if (line.StartsWith("DONE ", StringComparison.Ordinal))
            {
                var r = JsonSerializer.Deserialize<Result>(line[5..])!;
                results[r.Index] = r;
                if (++done % 500 == 0) Console.Error.WriteLine($"  {done} mutants done");
            }
        }
        process.WaitForExit();
        if (process.ExitCode == 0) return;
        lock (stderr)
        {
            var tail = stderr.ToString();
            Blame(Result.Crash, $"the worker process died (exit code {process.ExitCode})\n{(tail.Length > 2000 ? tail[^2000..] : tail)}");
        }

        // The mutant being generated (after the last compiled batch), or every unfinished mutant of the batch being compiled.
        void Blame(string kind, string why)
        {
            if (compiling is { } batch)
            {
                for (var k = batch.Item1; k <= batch.Item2; k++)
                    if (!results.ContainsKey(k))
                        results[k] = new Result(k, kind, 0, false, true, 0, 0, 1, 0, Array.Empty<string>(), $"mutant {k}: compiling batch {batch.Item1}-{batch.Item2}: {why}");
            }
            else if (running is { } k)
            {
                culprits.Add(k);
                // The mutant is made again here (mutants are deterministic) so that the report shows its files.
                var shown = description is not null && description.StartsWith($"MUTANT {k} ", StringComparison.Ordinal)
                    ? new MutantOutcome { Mutant = new YamlMutator(YamlMutator.RepositoryExperiments(o.Repo), YamlMutator.RepositoryBases(o.Repo)).Create(k, o.Seed) }.Describe()
                    : $"mutant {k} (the mutator did not finish making it)";
                results[k] = new Result(k, kind, 0, false, false, 0, 0, 0, 0, Array.Empty<string>(), $"{why}\n{shown}");
            }
        }
    }

    private static string Summary(FuzzOptions o, int seedFiles, Dictionary<int, Result> results, TimeSpan elapsed)
    {
        var all = results.Values.OrderBy(r => r.Index).ToList();
        int Count(Func<Result, bool> f) => all.Count(f);
        var times = all.Where(r => r.Kind == Result.Ok).Select(r => r.Milliseconds).Order().ToList();
        double Pct(double p) => times.Count == 0 ? 0 : times[Math.Min(times.Count - 1, (int)Math.Ceiling(p * times.Count) - 1)];
        var s = new StringBuilder();
        s.AppendLine($"Distill generator fuzz: {all.Count} mutants of the {seedFiles} experiment files under experiments/ (seed {o.Seed}), {elapsed.TotalSeconds:F0} s");
        s.AppendLine();
        s.AppendLine("| check | mutants | files |");
        s.AppendLine("| --- | ---: | ---: |");
        s.AppendLine($"| exceptions (thrown by the generator, or the process died) | {Count(r => r.Kind is Result.Exception or Result.Crash)} | |");
        s.AppendLine($"| hangs (no progress for {o.HangSeconds:F0} s) | {Count(r => r.Kind == Result.Hang)} | |");
        s.AppendLine($"| generator time over {o.SlowMilliseconds:F0} ms | {Count(r => r.Kind == Result.Ok && r.Milliseconds > o.SlowMilliseconds)} | |");
        s.AppendLine($"| generated files with compile errors | {Count(r => r.FilesWithErrors > 0)} | {all.Sum(r => r.FilesWithErrors)} |");
        s.AppendLine($"| generated files with compile warnings | {Count(r => r.FilesWithWarnings > 0)} | {all.Sum(r => r.FilesWithWarnings)} |");
        s.AppendLine($"| unlocated diagnostics (no location, or outside the file) | {Count(r => r.Unlocated > 0)} | {all.Sum(r => r.Unlocated)} diagnostics |");
        s.AppendLine($"| code emitted despite errors, or neither code nor diagnostics | {Count(r => r.Inconsistent > 0)} | |");
        s.AppendLine();
        var ok = all.Where(r => r.Kind == Result.Ok).ToList();
        s.AppendLine($"Outcomes: {ok.Count(r => r.Errors && !r.Generated)} mutants diagnosed with errors and nothing emitted; " +
                     $"{ok.Count(r => r.Generated && !r.Diagnosed)} generated code without any diagnostic; " +
                     $"{ok.Count(r => r.Generated && r.Diagnosed && !r.Errors)} generated code with generator warnings only (DSL029); " +
                     $"{ok.Count(r => r.Generated && r.Errors)} of several files, some diagnosed with errors (emitting nothing) and the others generated. " +
                     "Every generated file compiled in batches at warning level 9999 with documentation comments checked.");
        s.AppendLine($"Generator time per mutant (a fresh generator driver each, on one compilation): median {Pct(0.5):F1} ms, p99 {Pct(0.99):F1} ms, max {(times.Count == 0 ? 0 : times[^1]):F1} ms.");
        var ids = all.SelectMany(r => r.Ids).GroupBy(x => x).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}");
        s.AppendLine($"Mutants per diagnostic id: {string.Join(", ", ids)}.");
        var failures = all.Where(r => Failed(r, o)).ToList();
        if (failures.Count > 0)
        {
            s.AppendLine();
            s.AppendLine($"First failures ({failures.Count} in all{(o.Save is null ? "; --save DIR writes them all" : $"; all written to {o.Save}")}):");
            foreach (var f in failures.Take(5)) s.AppendLine(f.Report is { Length: > 3000 } r ? r[..3000] + "\n[...]" : f.Report);
        }
        return s.ToString().TrimEnd();
    }
}
