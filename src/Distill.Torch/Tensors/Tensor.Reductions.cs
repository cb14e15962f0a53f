using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

// Reductions (native/src/tensor_ops_math.cpp); sum and mean are in Tensor.Basics.cs. A null dims list
// reduces every element; negative dims count from the end.
public partial class Tensor
{
    private static int DtypeCode(ScalarType? dtype) => dtype is null ? -1 : (int)dtype.Value;

    /// <summary>The sum treating NaN as zero.</summary>
    public unsafe Tensor nansum(long[]? dims = null, bool keepdim = false, ScalarType? dtype = null)
    {
        IntPtr r;
        fixed (long* p = dims) Check(dst_nansum(Handle, p, dims?.Length ?? -1, keepdim ? 1 : 0, DtypeCode(dtype), out r));
        return new Tensor(r);
    }

    public Tensor nansum(long dim, bool keepdim = false, ScalarType? dtype = null) => nansum(new[] { dim }, keepdim, dtype);

    // ---- max / min ----

    /// <summary>The largest element (a zero-dimensional tensor).</summary>
    public Tensor max() { Check(dst_max(Handle, out var r)); return new Tensor(r); }

    /// <summary>The largest elements along <paramref name="dim"/> and their indices.</summary>
    public (Tensor values, Tensor indices) max(long dim, bool keepdim = false)
    {
        Check(dst_max_dim(Handle, dim, keepdim ? 1 : 0, out var v, out var i));
        return (new Tensor(v), new Tensor(i));
    }

    /// <summary>The elementwise maximum (<c>torch.max(a, b)</c>), as <see cref="maximum(Tensor)"/>.</summary>
    public Tensor max(Tensor other) => maximum(other);

    public Tensor min() { Check(dst_min(Handle, out var r)); return new Tensor(r); }

    public (Tensor values, Tensor indices) min(long dim, bool keepdim = false)
    {
        Check(dst_min_dim(Handle, dim, keepdim ? 1 : 0, out var v, out var i));
        return (new Tensor(v), new Tensor(i));
    }

    public Tensor min(Tensor other) => minimum(other);

    /// <summary>The maximum over <paramref name="dims"/> (every dim when null or empty); the gradient is shared among ties.</summary>
    public unsafe Tensor amax(long[]? dims = null, bool keepdim = false)
    {
        var d = dims ?? Array.Empty<long>();
        IntPtr r;
        fixed (long* p = d) Check(dst_amax(Handle, p, d.Length, keepdim ? 1 : 0, out r));
        return new Tensor(r);
    }

    public Tensor amax(long dim, bool keepdim = false) => amax(new[] { dim }, keepdim);

    public unsafe Tensor amin(long[]? dims = null, bool keepdim = false)
    {
        var d = dims ?? Array.Empty<long>();
        IntPtr r;
        fixed (long* p = d) Check(dst_amin(Handle, p, d.Length, keepdim ? 1 : 0, out r));
        return new Tensor(r);
    }

    public Tensor amin(long dim, bool keepdim = false) => amin(new[] { dim }, keepdim);

    // ---- norms ----

    /// <summary>The p-norm over <paramref name="dim"/> (every element when null); p may be ±infinity or 0.</summary>
    public unsafe Tensor norm(double p = 2, long[]? dim = null, bool keepdim = false)
    {
        IntPtr r;
        fixed (long* d = dim) Check(dst_norm(Handle, p, d, dim?.Length ?? -1, keepdim ? 1 : 0, out r));
        return new Tensor(r);
    }

    public Tensor norm(double p, long dim, bool keepdim = false) => norm(p, new[] { dim }, keepdim);

    /// <summary>log(sum(exp(x))) over <paramref name="dims"/>, computed stably.</summary>
    public unsafe Tensor logsumexp(long[] dims, bool keepdim = false)
    {
        IntPtr r;
        fixed (long* p = dims) Check(dst_logsumexp(Handle, p, dims.Length, keepdim ? 1 : 0, out r));
        return new Tensor(r);
    }

    public Tensor logsumexp(long dim, bool keepdim = false) => logsumexp(new[] { dim }, keepdim);

    // ---- products ----

    public Tensor prod(ScalarType? dtype = null) { Check(dst_prod(Handle, DtypeCode(dtype), out var r)); return new Tensor(r); }

    // C# converts the literal 0 to any enum: without an int overload, x.prod(0) would bind to prod(dtype).
    public Tensor prod(int dim, bool keepdim = false, ScalarType? dtype = null) => prod((long)dim, keepdim, dtype);

    public Tensor prod(long dim, bool keepdim = false, ScalarType? dtype = null)
    {
        Check(dst_prod_dim(Handle, dim, keepdim ? 1 : 0, DtypeCode(dtype), out var r));
        return new Tensor(r);
    }

    // ---- variance ----

    // PyTorch: correction, when given, overrides unbiased (unbiased = correction 1, biased = 0).
    private static long Correction(bool unbiased, long? correction) => correction ?? (unbiased ? 1 : 0);

    /// <summary>The variance over <paramref name="dim"/> (every element when null), divided by N - correction.</summary>
    public unsafe Tensor var(long[]? dim = null, bool unbiased = true, bool keepdim = false, long? correction = null)
    {
        IntPtr r;
        fixed (long* p = dim) Check(dst_var(Handle, p, dim?.Length ?? -1, Correction(unbiased, correction), keepdim ? 1 : 0, out r));
        return new Tensor(r);
    }

    public Tensor var(long dim, bool unbiased = true, bool keepdim = false, long? correction = null) =>
        var(new[] { dim }, unbiased, keepdim, correction);

    public unsafe Tensor std(long[]? dim = null, bool unbiased = true, bool keepdim = false, long? correction = null)
    {
        IntPtr r;
        fixed (long* p = dim) Check(dst_std(Handle, p, dim?.Length ?? -1, Correction(unbiased, correction), keepdim ? 1 : 0, out r));
        return new Tensor(r);
    }

    public Tensor std(long dim, bool unbiased = true, bool keepdim = false, long? correction = null) =>
        std(new[] { dim }, unbiased, keepdim, correction);

    /// <summary>The variance and the mean in one pass (<c>torch.var_mean</c>).</summary>
    public unsafe (Tensor var, Tensor mean) var_mean(long[]? dim = null, bool unbiased = true, bool keepdim = false, long? correction = null)
    {
        IntPtr v, m;
        fixed (long* p = dim) Check(dst_var_mean(Handle, p, dim?.Length ?? -1, Correction(unbiased, correction), keepdim ? 1 : 0, out v, out m));
        return (new Tensor(v), new Tensor(m));
    }

    public unsafe (Tensor std, Tensor mean) std_mean(long[]? dim = null, bool unbiased = true, bool keepdim = false, long? correction = null)
    {
        IntPtr s, m;
        fixed (long* p = dim) Check(dst_std_mean(Handle, p, dim?.Length ?? -1, Correction(unbiased, correction), keepdim ? 1 : 0, out s, out m));
        return (new Tensor(s), new Tensor(m));
    }

    // ---- logical ----

    /// <summary>True when every element is nonzero (a zero-dimensional bool tensor).</summary>
    public Tensor all() { Check(dst_all(Handle, out var r)); return new Tensor(r); }
    public Tensor all(long dim, bool keepdim = false) { Check(dst_all_dim(Handle, dim, keepdim ? 1 : 0, out var r)); return new Tensor(r); }
    public Tensor any() { Check(dst_any(Handle, out var r)); return new Tensor(r); }
    public Tensor any(long dim, bool keepdim = false) { Check(dst_any_dim(Handle, dim, keepdim ? 1 : 0, out var r)); return new Tensor(r); }

    /// <summary>The number of nonzero elements over <paramref name="dims"/> (every element when null), as int64.</summary>
    public unsafe Tensor count_nonzero(long[]? dims = null)
    {
        IntPtr r;
        fixed (long* p = dims) Check(dst_count_nonzero(Handle, p, dims?.Length ?? -1, out r));
        return new Tensor(r);
    }

    public Tensor count_nonzero(long dim) => count_nonzero(new[] { dim });
}
