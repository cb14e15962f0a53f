namespace Distill.Generators.Tests;

/// <summary>
/// Snapshot files in the Verify.SourceGenerators layout without the package:
/// <c>Snapshots/{Class}.{Method}#{Hint}.verified.cs</c>, starting with <c>//HintName: {Hint}</c>. A mismatch
/// writes <c>.received.cs</c> beside it (gitignored) and fails; set DISTILL_ACCEPT_SNAPSHOTS=1 to accept
/// (CI never sets it).
/// </summary>
internal static class Snapshot
{
    public static void Verify(string generated, string testClass, string method, string hintName)
    {
        // Found from the repository root, not [CallerFilePath]: CI builds map source paths to /_/.
        var directory = Path.Combine(YamlDiagnosticsTests.RepoRoot(), "tests", "Distill.Generators.Tests", "Snapshots");
        var stem = Path.Combine(directory, $"{testClass}.{method}#{Path.GetFileNameWithoutExtension(hintName)}");
        var verified = stem + ".verified.cs";
        var received = stem + ".received.cs";
        var text = $"//HintName: {hintName}\n" + generated.Replace("\r\n", "\n");
        if (File.Exists(verified) && File.ReadAllText(verified).Replace("\r\n", "\n") == text)
        {
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        if (Environment.GetEnvironmentVariable("DISTILL_ACCEPT_SNAPSHOTS") == "1" && Environment.GetEnvironmentVariable("CI") != "true")
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(verified, text);
            return;
        }
        Directory.CreateDirectory(directory);
        File.WriteAllText(received, text);
        Assert.Fail(File.Exists(verified)
            ? $"Generated code differs from {verified}; see {received} (accept with DISTILL_ACCEPT_SNAPSHOTS=1)."
            : $"No snapshot {verified} yet; review {received} and accept with DISTILL_ACCEPT_SNAPSHOTS=1.");
    }
}
