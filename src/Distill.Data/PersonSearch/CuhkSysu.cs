using System.Globalization;

namespace Distill.Data;

/// <summary>A scene image of a person-search data set: its person boxes (x1, y1, x2, y2) and each box's identity (-1: unlabelled).</summary>
public sealed record PersonSearchImage(string Name, double[] Boxes, int[] Identities)
{
    public int Count => Identities.Length;
}

/// <summary>A query of a person-search protocol: the person's box in the query image, and the gallery images with the person's box there (or null).</summary>
public sealed record PersonSearchQuery(string Image, double[] Box, int Identity, IReadOnlyList<(string Image, double[]? Box)> Gallery);

/// <summary>
/// The CUHK-SYSU person-search data set's annotations as distributed (Xiao et al. 2017; docs/data.md): under <c>root</c>,
/// <c>annotation/Images.mat</c> (every scene image, its person boxes x, y, w, h), <c>annotation/pool.mat</c> (the test
/// images), <c>annotation/test/train_test/Train.mat</c> (the 5,532 training identities and the boxes where each appears)
/// and <c>annotation/test/train_test/TestG&lt;size&gt;.mat</c> (2,900 queries, each with a gallery of that many images;
/// 50, 100, 500, 1000, 2000 or 4000). The training images are every image not in the pool; a training box gets its
/// identity's index (0 … 5,531), a test box the index of the query whose person it is, other boxes -1 (unlabelled).
/// Boxes of zero width or height are dropped, as the released loaders do (a protocol entry that points at one labels
/// nothing, but a gallery entry keeps the protocol's box); boxes are matched in whole pixels, as the released loaders' int32. Images are read from <c>Image/SSM/</c> by the
/// data set that renders batches; this class reads only the annotations. Errors are <see cref="DatasetException"/>s
/// naming the file and the record.
/// </summary>
public sealed class CuhkSysu
{
    /// <param name="root">the data set's directory (holding <c>annotation/</c> and <c>Image/</c>).</param>
    /// <param name="gallerySize">the test protocol's gallery size (<c>TestG&lt;size&gt;.mat</c>).</param>
    public CuhkSysu(string root = "data/cuhk_sysu", int gallerySize = 100)
    {
        ArgumentNullException.ThrowIfNull(root);
        Root = root;
        if (!Directory.Exists(root)) throw new DatasetException($"CUHK-SYSU directory '{root}' does not exist", root);
        var annotation = Path.Combine(root, "annotation");
        var imagesFile = Path.Combine(annotation, "Images.mat");
        var poolFile = Path.Combine(annotation, "pool.mat");
        var trainFile = Path.Combine(annotation, "test", "train_test", "Train.mat");
        var testName = "TestG" + gallerySize.ToString(CultureInfo.InvariantCulture);
        var testFile = Path.Combine(annotation, "test", "train_test", testName + ".mat");

        // Every image and its boxes, unlabelled until a protocol file names their person.
        var boxes = new Dictionary<string, List<double[]>>(StringComparer.Ordinal);
        var order = new List<string>();
        var img = Variable<MatStruct>(imagesFile, "Img");
        for (var i = 0; i < img.Count; i++)
        {
            var name = Text(img, i, "imname", imagesFile);
            var list = new List<double[]>();
            if (Get(img, i, "box", imagesFile) is MatStruct box)
                for (var j = 0; j < box.Count; j++)
                {
                    var b = Numbers(box, j, "idlocate", imagesFile, $"Img({i + 1}).box({j + 1})");
                    if (b[2] > 0 && b[3] > 0) list.Add(b);
                }
            if (!boxes.TryAdd(name, list)) throw new DatasetException($"CUHK-SYSU file '{imagesFile}': Img({i + 1}): image '{name}' appears twice", imagesFile, i);
            order.Add(name);
        }
        var identities = boxes.ToDictionary(kv => kv.Key, kv => Enumerable.Repeat(-1, kv.Value.Count).ToArray(), StringComparer.Ordinal);

        var pool = Variable<MatCell>(poolFile, "pool");
        var test = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < pool.Cells.Count; i++)
        {
            var name = pool.Cells[i] is MatText t ? t.Text : throw new DatasetException($"CUHK-SYSU file '{poolFile}': pool{{{i + 1}}} is not an image name", poolFile, i);
            if (!boxes.ContainsKey(name)) throw new DatasetException($"CUHK-SYSU file '{poolFile}': pool{{{i + 1}}} names '{name}', which Images.mat does not list", poolFile, i);
            test.Add(name);
        }

        // Training identities: Train{k} is a 1 × 1 struct (idname, nAppear, scene), scene a struct (imname, idlocate, ishard).
        var train = Variable<MatCell>(trainFile, "Train");
        for (var k = 0; k < train.Cells.Count; k++)
        {
            var where = $"Train{{{k + 1}}}";
            if (train.Cells[k] is not MatStruct person || person.Count != 1) throw new DatasetException($"CUHK-SYSU file '{trainFile}': {where} is not a person struct", trainFile, k);
            if (Get(person, 0, "scene", trainFile) is not MatStruct scene) throw new DatasetException($"CUHK-SYSU file '{trainFile}': {where}.scene is not a struct", trainFile, k);
            for (var j = 0; j < scene.Count; j++)
                Assign(scene, j, k, trainFile, $"{where}.scene({j + 1})", boxes, identities);
        }
        TrainIdentities = train.Cells.Count;

        // The test protocol: TestG<size>(q).Query and .Gallery; query q's person is identity q among the test boxes.
        var protocol = Variable<MatStruct>(testFile, testName);
        var queries = new List<PersonSearchQuery>();
        for (var q = 0; q < protocol.Count; q++)
        {
            var where = $"{testName}({q + 1})";
            if (Get(protocol, q, "Query", testFile) is not MatStruct query || query.Count != 1) throw new DatasetException($"CUHK-SYSU file '{testFile}': {where}.Query is not a struct", testFile, q);
            var (queryImage, queryBox) = Assign(query, 0, q, testFile, where + ".Query", boxes, identities, isQuery: true);
            if (Get(protocol, q, "Gallery", testFile) is not MatStruct gallery) throw new DatasetException($"CUHK-SYSU file '{testFile}': {where}.Gallery is not a struct", testFile, q);
            var entries = new List<(string, double[]?)>();
            for (var g = 0; g < gallery.Count; g++)
            {
                var name = Text(gallery, g, "imname", testFile);
                if (Get(gallery, g, "idlocate", testFile).Count == 0) entries.Add((name, null));
                else
                {
                    var (_, box) = Assign(gallery, g, q, testFile, $"{where}.Gallery({g + 1})", boxes, identities);
                    entries.Add((name, box));
                }
            }
            queries.Add(new PersonSearchQuery(queryImage, queryBox, q, entries));
        }
        Queries = queries;
        PersonSearchImage Image(string name) =>
            new(name, boxes[name].SelectMany(b => new[] { b[0], b[1], b[0] + b[2], b[1] + b[3] }).ToArray(), identities[name]);
        Train = order.Where(n => !test.Contains(n)).Select(Image).ToArray();
        Gallery = order.Where(test.Contains).Select(Image).ToArray();
    }

    public string Root { get; }

    /// <summary>The training images (every image not in the test pool), identities 0 … <see cref="TrainIdentities"/> − 1 or -1.</summary>
    public IReadOnlyList<PersonSearchImage> Train { get; }

    /// <summary>The test images (the pool), each box labelled with the query whose person it is, or -1.</summary>
    public IReadOnlyList<PersonSearchImage> Gallery { get; }

    public IReadOnlyList<PersonSearchQuery> Queries { get; }

    public int TrainIdentities { get; }

    /// <summary>Finds element <paramref name="index"/>'s box (x, y, w, h) among its image's boxes and gives it <paramref name="identity"/>; returns the image and the box as x1, y1, x2, y2.</summary>
    private static (string Image, double[] Box) Assign(MatStruct s, int index, int identity, string file, string where,
        Dictionary<string, List<double[]>> boxes, Dictionary<string, int[]> identities, bool isQuery = false)
    {
        var name = Text(s, index, "imname", file);
        var box = Numbers(s, index, "idlocate", file, where);
        if (!boxes.TryGetValue(name, out var list)) throw new DatasetException($"CUHK-SYSU file '{file}': {where} names image '{name}', which Images.mat does not list", file, index);
        // Compared in whole pixels, as the released loaders (int32) do.
        var at = list.FindIndex(b => b.Zip(box).All(p => Math.Truncate(p.First) == Math.Truncate(p.Second)));
        double[] corners = [box[0], box[1], box[0] + box[2], box[1] + box[3]];
        if (at < 0 && !(box[2] > 0 && box[3] > 0) && !isQuery)
            return (name, corners); // a box of zero size, dropped from Images.mat's list: nobody to label
        if (at < 0)
            throw new DatasetException(string.Create(CultureInfo.InvariantCulture,
                $"CUHK-SYSU file '{file}': {where}: box ({box[0]}, {box[1]}, {box[2]}, {box[3]}) is not one of the {list.Count} boxes Images.mat lists for '{name}'"), file, index);
        var ids = identities[name];
        if (ids[at] != -1 && ids[at] != identity)
            throw new DatasetException($"CUHK-SYSU file '{file}': {where}: the box in '{name}' is already identity {ids[at]}", file, index);
        ids[at] = identity;
        return (name, corners);
    }

    private static T Variable<T>(string file, string name) where T : MatValue
    {
        var vars = MatFile.Read(file);
        if (!vars.TryGetValue(name, out var v)) throw new DatasetException($"CUHK-SYSU file '{file}' has no variable '{name}' (it has: {string.Join(", ", vars.Keys)})", file);
        return v as T ?? throw new DatasetException($"CUHK-SYSU file '{file}': '{name}' is a {v.GetType().Name}, not a {typeof(T).Name}", file);
    }

    private static MatValue Get(MatStruct s, int index, string field, string file)
    {
        if (!s.Fields.Contains(field)) throw new DatasetException($"CUHK-SYSU file '{file}': a struct without the field '{field}' (its fields: {string.Join(", ", s.Fields)})", file, index);
        return s.Elements[index][field];
    }

    private static string Text(MatStruct s, int index, string field, string file) =>
        Get(s, index, field, file) is MatText t ? t.Text.Trim() : throw new DatasetException($"CUHK-SYSU file '{file}': element {index + 1}'s '{field}' is not text", file, index);

    private static double[] Numbers(MatStruct s, int index, string field, string file, string where) =>
        Get(s, index, field, file) is MatNumeric { Count: 4 } n ? n.Values
        : throw new DatasetException($"CUHK-SYSU file '{file}': {where}.{field} is not a box of 4 numbers (x, y, w, h)", file, index);
}
