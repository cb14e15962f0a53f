using System.Reflection;
using Distill.Metadata;

namespace Distill.Data.Tests;

/// <summary>
/// The convention the DSL's generated loops rely on (docs/data.md), checked on every data set of this
/// library: [DistillDataset] with [BatchField]s whose shapes use only constructor parameters and N; plain
/// constructor parameters with defaults; IBatchDataset&lt;TBatch&gt; with one public Tensor member per
/// field, named exactly as the field; and batches whose shapes are what the fields declare.
/// </summary>
public class ConventionTests
{
    private static readonly Type[] PlainTypes = [typeof(int), typeof(long), typeof(double), typeof(float), typeof(bool), typeof(string)];

    private static Type[] DatasetTypes() => typeof(ImageDataset).Assembly.GetTypes()
        .Where(t => t.GetCustomAttribute<DistillDatasetAttribute>() is not null).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();

    public static TheoryData<Type> Datasets() => new(DatasetTypes());

    [Fact]
    public void The_library_declares_its_data_sets()
    {
        Assert.Equal(["Cifar10", "Cifar100", "CocoDetection", "CuhkSysuScenes", "FaceFolder", "FashionMnist", "ImageFolder", "Mnist", "PrwScenes", "SyntheticDetection", "SyntheticFaces", "SyntheticImages", "SyntheticPersonSearch", "TensorImages", "VocDetection"],
            DatasetTypes().Select(t => t.Name));
    }

    [Theory]
    [MemberData(nameof(Datasets))]
    public void Every_data_set_follows_the_convention(Type type)
    {
        var task = type.GetCustomAttribute<DistillDatasetAttribute>()!.Task;
        Assert.Contains(task, new[] { "classification", "face", "detection" });
        // A face data set's images are also scored in pairs.
        Assert.Equal(task == "face", typeof(IVerificationPairs).IsAssignableFrom(type));
        var ctor = Assert.Single(type.GetConstructors());
        var parameters = ctor.GetParameters();
        Assert.All(parameters, p =>
        {
            Assert.Contains(p.ParameterType, PlainTypes);
            Assert.True(p.HasDefaultValue, $"{type.Name}({p.Name}) needs a default");
        });
        var names = parameters.Select(p => p.Name!).ToHashSet();

        var fields = type.GetCustomAttributes<BatchFieldAttribute>().ToList();
        if (task == "detection")
        {
            DetectionFollowsTheConvention(type, fields, names);
            return;
        }
        Assert.Equal(["image", "label"], fields.Select(f => f.Name));
        foreach (var f in fields)
        {
            Assert.All(Identifiers(f.Shape), id => Assert.True(id == "N" || names.Contains(id), $"{type.Name}.{f.Name}: '{id}' is not a parameter"));
            Assert.Equal("N", f.Shape.Split(',')[0].Trim());
            if (f.Classes is { } classes) Assert.All(Identifiers(classes), id => Assert.Contains(id, names));
        }
        Assert.Equal(TensorKind.FeatureMap, fields[0].Kind);
        Assert.Equal(TensorKind.Labels, fields[1].Kind);
        Assert.NotNull(fields[1].Classes);

        var batchType = type.GetInterfaces().Single(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IBatchDataset<>)).GetGenericArguments()[0];
        Assert.True(typeof(IBatch).IsAssignableFrom(batchType));
        foreach (var f in fields)
        {
            var member = (MemberInfo?)batchType.GetProperty(f.Name, BindingFlags.Public | BindingFlags.Instance)
                ?? batchType.GetField(f.Name, BindingFlags.Public | BindingFlags.Instance);
            Assert.NotNull(member);
            Assert.Equal(typeof(Tensor), member is PropertyInfo p ? p.PropertyType : ((FieldInfo)member).FieldType);
        }
    }

    /// <summary>
    /// A detection data set: the seven fields of <see cref="DetectionBatch"/> in its order; per-image fields are
    /// <c>IReadOnlyList&lt;Tensor&gt;</c> members whose shape's second dim is <c>*</c> (the objects of one image).
    /// </summary>
    private static void DetectionFollowsTheConvention(Type type, List<BatchFieldAttribute> fields, HashSet<string> names)
    {
        Assert.True(typeof(DetectionDataset).IsAssignableFrom(type));
        // A person-search data set also declares each box's identity.
        var personSearch = typeof(IPersonSearchData).IsAssignableFrom(type);
        Assert.Equal(["image", "image_size", "boxes", "labels", "crowd", "hard", "image_id", .. (personSearch ? new[] { "person_id" } : [])], fields.Select(f => f.Name));
        Assert.Equal([TensorKind.FeatureMap, TensorKind.Any, TensorKind.Boxes, TensorKind.Labels, TensorKind.Mask, TensorKind.Mask, TensorKind.Any,
                .. (personSearch ? new[] { TensorKind.Labels } : [])],
            fields.Select(f => f.Kind));
        foreach (var f in fields)
        {
            Assert.All(Identifiers(f.Shape), id => Assert.True(id == "N" || names.Contains(id), $"{type.Name}.{f.Name}: '{id}' is not a parameter"));
            Assert.Equal("N", f.Shape.Split(',')[0].Trim());
            if (f.Classes is { } classes) Assert.All(Identifiers(classes), id => Assert.Contains(id, names));
        }
        Assert.NotNull(fields[3].Classes);
        var batchType = type.GetInterfaces().Single(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IBatchDataset<>)).GetGenericArguments()[0];
        Assert.Equal(typeof(DetectionBatch), batchType);
        foreach (var f in fields)
        {
            var member = batchType.GetProperty(f.Name, BindingFlags.Public | BindingFlags.Instance);
            Assert.NotNull(member);
            var perImage = f.Shape.Split(',').Select(d => d.Trim()).ElementAtOrDefault(1) == "*" && f.Name != "image";
            Assert.Equal(perImage ? typeof(IReadOnlyList<Tensor>) : typeof(Tensor), member.PropertyType);
        }
    }

    [Fact]
    public void Detection_batches_have_the_declared_shapes()
    {
        AssertDetectionShapes(new SyntheticDetection(samples: 5), new());
        AssertDetectionShapes(new SyntheticDetection(classes: 3, size: 64, max_object: 40, samples: 5), new() { ["classes"] = 3, ["size"] = 64 });
        AssertDetectionShapes(new SyntheticPersonSearch(identities: 10, samples: 5), new() { ["identities"] = 10, ["samples"] = 5 });
        AssertDetectionShapes(new SyntheticPersonSearch(identities: 10, samples: 5, height: 64, width: 48), new() { ["identities"] = 10, ["samples"] = 5, ["height"] = 64, ["width"] = 48 });
        using var dir = new TempDir();
        Pnm.Write(dir.File("coco/val/a.ppm"), new byte[3 * 6 * 4], 3, 6, 4);
        Pnm.Write(dir.File("coco/val/b.ppm"), new byte[3 * 5 * 7], 3, 5, 7);
        File.WriteAllText(dir.File("coco/annotations/instances_val.json"), """
            { "images": [ { "id": 1, "file_name": "a.ppm", "width": 4, "height": 6 }, { "id": 2, "file_name": "b.ppm", "width": 7, "height": 5 } ],
              "annotations": [ { "id": 1, "image_id": 2, "category_id": 3, "bbox": [1, 1, 2, 2], "iscrowd": 0 } ],
              "categories": [ { "id": 3, "name": "x" }, { "id": 5, "name": "y" } ] }
            """);
        using var coco = new CocoDetection(dir["coco"], split: "val", classes: 2);
        AssertDetectionShapes(coco, new() { ["classes"] = 2 });
        Pnm.Write(dir.File("voc/JPEGImages/1.ppm"), new byte[3 * 6 * 4], 3, 6, 4);
        File.WriteAllText(dir.File("voc/ImageSets/Main/val.txt"), "1\n");
        File.WriteAllText(dir.File("voc/Annotations/1.xml"),
            "<annotation><size><width>4</width><height>6</height></size><object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>");
        using var voc = new VocDetection(dir["voc"], split: "val");
        AssertDetectionShapes(voc, new());
        CuhkSysuTests.Write(dir);
        foreach (var name in new[] { "a", "b", "c", "d", "e" })
            Pnm.Write(dir.File($"cuhk/Image/SSM/{name}.ppm"), new byte[3 * 120 * 160], 3, 120, 160);
        using var cuhk = new CuhkSysuScenes(dir["cuhk"], "train", gallery_size: 2);
        AssertDetectionShapes(cuhk, new());
    }

    /// <summary>Evaluates the declared shapes, with <c>*</c> matching any size, on a batch of up to 3 images.</summary>
    private static void AssertDetectionShapes(DetectionDataset data, Dictionary<string, long> args)
    {
        var type = data.GetType();
        var env = type.GetConstructors().Single().GetParameters()
            .Where(p => p.ParameterType == typeof(int))
            .ToDictionary(p => p.Name!, p => args.TryGetValue(p.Name!, out var v) ? v : Convert.ToInt64(p.DefaultValue));
        env["N"] = Math.Min(3, data.Count);
        using var batch = data.Collate(Enumerable.Range(0, (int)env["N"]).ToArray());
        var fields = type.GetCustomAttributes<BatchFieldAttribute>().ToDictionary(f => f.Name);
        void Matches(string field, long[] shape)
        {
            var dims = fields[field].Shape.Split(',').Select(d => d.Trim()).ToArray();
            Assert.Equal(dims.Length, shape.Length);
            for (var i = 0; i < dims.Length; i++)
                if (dims[i] != "*") Assert.Equal(Eval(dims[i], env), shape[i]);
        }
        Matches("image", batch.image.shape);
        Matches("image_size", batch.image_size.shape);
        Matches("image_id", batch.image_id.shape);
        foreach (var (name, list) in new[] { ("boxes", batch.boxes), ("labels", batch.labels), ("crowd", batch.crowd), ("hard", batch.hard), ("person_id", batch.person_id) })
        {
            if (!fields.ContainsKey(name)) continue;
            Assert.Equal(env["N"], list.Count);
            foreach (var t in list) Matches(name, [list.Count, .. t.shape]);
        }
        Assert.Equal(Eval(fields["labels"].Classes!, env), data.Classes);
    }

    [Fact]
    public void SyntheticImages_batches_have_the_declared_shapes()
    {
        AssertShapes(new SyntheticImages(), new());
        AssertShapes(new SyntheticImages(classes: 100, channels: 1, size: 20, samples: 50),
            new() { ["classes"] = 100, ["channels"] = 1, ["size"] = 20 });
    }

    [Fact]
    public void SyntheticFaces_batches_have_the_declared_shapes()
    {
        AssertShapes(new SyntheticFaces(identities: 20, samples_per_identity: 2), new() { ["identities"] = 20 });
        AssertShapes(new SyntheticFaces(identities: 30, samples_per_identity: 2, size: 24, split: "val", pairs: 20),
            new() { ["identities"] = 30, ["size"] = 24 });
    }

    [Fact]
    public void Reader_batches_have_the_declared_shapes()
    {
        using var dir = new TempDir();
        Pnm.Write(dir.File("f/a/1.pgm"), new byte[36], 1, 6, 6);
        Pnm.Write(dir.File("f/b/1.pgm"), new byte[36], 1, 6, 6);
        using var folder = new ImageFolder(dir["f"], classes: 2, channels: 1, size: 6);
        AssertShapes(folder, new() { ["classes"] = 2, ["channels"] = 1, ["size"] = 6 });
        using var faces = new FaceFolder(dir["f"], identities: 2, channels: 1, size: 6);
        AssertShapes(faces, new() { ["identities"] = 2, ["channels"] = 1, ["size"] = 6 });

        CifarFormat.Write(dir.File("c/test_batch.bin"), new byte[2 * CifarFormat.ImageBytes], [0, 9]);
        using var cifar = new Cifar10(dir["c"], split: "test");
        AssertShapes(cifar, new());
        CifarFormat.Write(dir.File("c/test.bin"), new byte[2 * CifarFormat.ImageBytes], [0, 99], [0, 19]);
        using var cifar100 = new Cifar100(dir["c"], split: "test");
        AssertShapes(cifar100, new());

        foreach (var prefix in new[] { "train", "t10k" })
        {
            IdxFormat.WriteBytes(dir.File($"m/{prefix}-images-idx3-ubyte"), new byte[3 * 28 * 28], [3, 28, 28]);
            IdxFormat.WriteBytes(dir.File($"m/{prefix}-labels-idx1-ubyte"), [0, 9, 4], [3]);
        }
        using var fashion = new FashionMnist(dir["m"], split: "test");
        AssertShapes(fashion, new());
        using var mnist = new Mnist(dir["m"]);
        AssertShapes(mnist, new());

        using (var scope = torch.NewDisposeScope())
            Safetensors.Save(dir.File("t.safetensors"), new Dictionary<string, Tensor>
            {
                ["image"] = torch.zeros([2, 3, 5, 5], dtype: torch.uint8),
                ["label"] = torch.tensor(new long[] { 0, 3 }),
            });
        using var tensors = new TensorImages(dir["t.safetensors"], classes: 4, size: 5);
        AssertShapes(tensors, new() { ["classes"] = 4, ["size"] = 5 });
    }

    /// <summary>Evaluates the declared shapes and class count with the given arguments (and defaults) and compares.</summary>
    private static void AssertShapes(ImageDataset data, Dictionary<string, long> args)
    {
        var type = data.GetType();
        var env = type.GetConstructors().Single().GetParameters()
            .Where(p => p.ParameterType == typeof(int))
            .ToDictionary(p => p.Name!, p => args.TryGetValue(p.Name!, out var v) ? v : Convert.ToInt64(p.DefaultValue));
        env["N"] = Math.Min(3, data.Count);
        using var batch = data.Collate(Enumerable.Range(0, (int)env["N"]).ToArray());
        var fields = type.GetCustomAttributes<BatchFieldAttribute>().ToDictionary(f => f.Name);
        Assert.Equal(Shape(fields["image"].Shape, env), batch.image.shape);
        Assert.Equal(Shape(fields["label"].Shape, env), batch.label.shape);
        Assert.Equal(Eval(fields["label"].Classes!, env), data.Classes);
    }

    private static long[] Shape(string shape, Dictionary<string, long> env) => shape.Split(',').Select(e => Eval(e, env)).ToArray();

    private static IEnumerable<string> Identifiers(string expression) =>
        System.Text.RegularExpressions.Regex.Matches(expression, "[A-Za-z_][A-Za-z0-9_]*").Select(m => m.Value);

    /// <summary>The shape-expression language: integers, names, + - * / (integer division) and parentheses.</summary>
    private static long Eval(string text, Dictionary<string, long> env)
    {
        var pos = 0;
        long Expr()
        {
            var v = Term();
            while (Peek() is '+' or '-') v = text[pos++] == '+' ? v + Term() : v - Term();
            return v;
        }
        long Term()
        {
            var v = Atom();
            while (Peek() is '*' or '/') v = text[pos++] == '*' ? v * Atom() : v / Atom();
            return v;
        }
        long Atom()
        {
            var c = Peek();
            if (c == '(') { pos++; var v = Expr(); Assert.Equal(')', Peek()); pos++; return v; }
            var start = pos;
            while (pos < text.Length && (char.IsLetterOrDigit(text[pos]) || text[pos] == '_')) pos++;
            var token = text[start..pos];
            return long.TryParse(token, out var n) ? n : env[token];
        }
        char Peek()
        {
            while (pos < text.Length && text[pos] == ' ') pos++;
            return pos < text.Length ? text[pos] : '\0';
        }
        var result = Expr();
        Assert.Equal('\0', Peek());
        return result;
    }
}
