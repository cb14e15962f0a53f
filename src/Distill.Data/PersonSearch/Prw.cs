using System.Globalization;

namespace Distill.Data;

/// <summary>
/// The PRW person-search data set's annotations as distributed (Zheng et al. 2017; docs/data.md): under <c>root</c>,
/// <c>frame_train.mat</c> / <c>frame_test.mat</c> (<c>img_index_train</c> / <c>img_index_test</c>: the frames, without
/// <c>.jpg</c>), <c>annotations/&lt;frame&gt;.jpg.mat</c> (one row a person: identity, x, y, w, h, under the variable
/// <c>box_new</c>, or <c>anno_file</c> / <c>anno_previous</c> in some files; identity -2 is an unlabelled person) and
/// <c>query_info.txt</c> (one query a line: identity x y w h frame). Negative coordinates are clipped at 0 as the released
/// loaders do: an annotation's x, y, w, h before its corners are formed, a query's corners after. Training identities become 0 … <see cref="TrainIdentities"/> − 1 in ascending order of PRW's
/// ids; test boxes keep PRW's id; unlabelled boxes are -1. PRW's protocol searches every test frame but the query's own:
/// each query's gallery lists them all, with the person's box in the frames that show it.
/// </summary>
public sealed class Prw
{
    public Prw(string root = "data/PRW")
    {
        ArgumentNullException.ThrowIfNull(root);
        Root = root;
        if (!Directory.Exists(root)) throw new DatasetException($"PRW directory '{root}' does not exist", root);
        var trainFrames = Frames(Path.Combine(root, "frame_train.mat"), "img_index_train");
        var testFrames = Frames(Path.Combine(root, "frame_test.mat"), "img_index_test");

        var trainRaw = trainFrames.Select(f => Annotation(root, f)).ToArray();
        var ids = trainRaw.SelectMany(a => a.Ids).Where(id => id >= 0).Distinct().Order().ToArray();
        var index = ids.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        Train = trainRaw.Select(a => new PersonSearchImage(a.Name, a.Boxes, a.Ids.Select(id => id >= 0 ? index[id] : -1).ToArray())).ToArray();
        TrainIdentities = ids.Length;
        Gallery = testFrames.Select(f => Annotation(root, f)).Select(a => new PersonSearchImage(a.Name, a.Boxes, a.Ids.Select(id => id >= 0 ? id : -1).ToArray())).ToArray();

        var queryFile = Path.Combine(root, "query_info.txt");
        if (!File.Exists(queryFile)) throw new DatasetException($"PRW file '{queryFile}' does not exist", queryFile);
        var queries = new List<PersonSearchQuery>();
        var lineNumber = 0;
        foreach (var raw in File.ReadLines(queryFile))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            double[] xywh = new double[4];
            if (parts.Length != 6 || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid)
                || Enumerable.Range(0, 4).Any(i => !double.TryParse(parts[1 + i], NumberStyles.Float, CultureInfo.InvariantCulture, out xywh[i])))
                throw new DatasetException($"PRW file '{queryFile}': line {lineNumber} is not 'identity x y w h frame': '{line}'", queryFile, lineNumber);
            var image = parts[5].EndsWith(".jpg", StringComparison.Ordinal) ? parts[5] : parts[5] + ".jpg";
            if (!Gallery.Any(g => g.Name == image))
                throw new DatasetException($"PRW file '{queryFile}': line {lineNumber}: frame '{image}' is not a test frame (frame_test.mat)", queryFile, lineNumber);
            // As the released loader: corners, truncated to whole pixels, then clipped.
            var box = Clip([Math.Truncate(xywh[0]), Math.Truncate(xywh[1]), Math.Truncate(xywh[0] + xywh[2]), Math.Truncate(xywh[1] + xywh[3])]);
            var gallery = Gallery.Where(g => g.Name != image).Select(g =>
            {
                var at = Array.IndexOf(g.Identities, pid);
                return (g.Name, at < 0 ? null : g.Boxes.AsSpan(4 * at, 4).ToArray());
            }).ToArray();
            queries.Add(new PersonSearchQuery(image, box, pid, gallery));
        }
        Queries = queries;
    }

    public string Root { get; }
    public IReadOnlyList<PersonSearchImage> Train { get; }
    public IReadOnlyList<PersonSearchImage> Gallery { get; }
    public IReadOnlyList<PersonSearchQuery> Queries { get; }
    public int TrainIdentities { get; }

    private static string[] Frames(string file, string variable)
    {
        var vars = MatFile.Read(file);
        if (!vars.TryGetValue(variable, out var v)) throw new DatasetException($"PRW file '{file}' has no variable '{variable}' (it has: {string.Join(", ", vars.Keys)})", file);
        IEnumerable<MatValue> items = v switch
        {
            MatCell c => c.Cells,
            MatText t => t.Rows.Select(r => (MatValue)new MatText([1, r.Length], [r])),
            _ => throw new DatasetException($"PRW file '{file}': '{variable}' is not a list of frame names", file),
        };
        return items.Select((x, i) => x is MatText t ? t.Text.Trim() + ".jpg" : throw new DatasetException($"PRW file '{file}': {variable}{{{i + 1}}} is not a frame name", file, i)).ToArray();
    }

    private static (string Name, double[] Boxes, int[] Ids) Annotation(string root, string frame)
    {
        var file = Path.Combine(root, "annotations", frame + ".mat");
        var vars = MatFile.Read(file);
        var key = new[] { "box_new", "anno_file", "anno_previous" }.FirstOrDefault(vars.ContainsKey)
            ?? throw new DatasetException($"PRW file '{file}' has none of box_new, anno_file, anno_previous (it has: {string.Join(", ", vars.Keys)})", file);
        if (vars[key] is not MatNumeric rows || rows.Dimensions.Count != 2 || (rows.Count > 0 && rows.Dimensions[1] != 5))
            throw new DatasetException($"PRW file '{file}': '{key}' is not an n × 5 array (identity, x, y, w, h)", file);
        var n = rows.Count == 0 ? 0 : rows.Dimensions[0];
        var boxes = new double[4 * n];
        var ids = new int[n];
        for (var r = 0; r < n; r++)
        {
            ids[r] = (int)rows[r, 0];
            if (ids[r] < 0 && ids[r] != -2) throw new DatasetException($"PRW file '{file}': row {r + 1} has the identity {ids[r]} (-2 is unlabelled)", file, r);
            // Clipped before the corners are formed, as the released loaders do: a box starting left of the frame keeps its width.
            var (x, y, w, h) = (Math.Max(0, rows[r, 1]), Math.Max(0, rows[r, 2]), Math.Max(0, rows[r, 3]), Math.Max(0, rows[r, 4]));
            new[] { Math.Truncate(x), Math.Truncate(y), Math.Truncate(x + w), Math.Truncate(y + h) }.CopyTo(boxes, 4 * r); // whole pixels, as the released records
        }
        return (frame, boxes, ids);
    }

    private static double[] Clip(double[] box) => box.Select(v => Math.Max(0, v)).ToArray();
}
