using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

// Views and re-arrangements (native/src/tensor_ops.cpp): permute, transpose, squeeze, expand, narrow,
// split, repeat, flip, roll, movedim. Most results share storage with this tensor, as in PyTorch.
public partial class Tensor
{
    public unsafe Tensor permute(params long[] dims)
    {
        IntPtr r;
        fixed (long* p = dims) Check(dst_permute(Handle, p, dims.Length, out r));
        return new Tensor(r);
    }

    public Tensor transpose(long dim0, long dim1) { Check(dst_transpose(Handle, dim0, dim1, out var r)); return new Tensor(r); }

    /// <summary>NumPy's name for <see cref="transpose"/>.</summary>
    public Tensor swapaxes(long axis0, long axis1) => transpose(axis0, axis1);

    /// <summary>Transposes a matrix (a tensor of at most 2 dims is returned as is when 0-D or 1-D).</summary>
    public Tensor t() { Check(dst_t(Handle, out var r)); return new Tensor(r); }

    /// <summary>The transpose of the last two dims (PyTorch's <c>.mT</c>).</summary>
    public Tensor mT => transpose(-2, -1);

    /// <summary>Splits dim <paramref name="dim"/> into <paramref name="sizes"/> (one may be -1).</summary>
    public unsafe Tensor unflatten(long dim, params long[] sizes)
    {
        IntPtr r;
        fixed (long* p = sizes) Check(dst_unflatten(Handle, dim, p, sizes.Length, out r));
        return new Tensor(r);
    }

    public Tensor unsqueeze(long dim) { Check(dst_unsqueeze(Handle, dim, out var r)); return new Tensor(r); }

    /// <summary>Removes every dim of size 1.</summary>
    public Tensor squeeze() { Check(dst_squeeze(Handle, out var r)); return new Tensor(r); }

    /// <summary>Removes <paramref name="dim"/> if its size is 1 (otherwise returns a view of the same shape).</summary>
    public Tensor squeeze(long dim) { Check(dst_squeeze_dim(Handle, dim, out var r)); return new Tensor(r); }

    /// <summary>Removes each listed dim whose size is 1 (PyTorch 2's <c>squeeze(dims)</c>).</summary>
    public unsafe Tensor squeeze(long[] dims)
    {
        IntPtr r;
        fixed (long* p = dims) Check(dst_squeeze_dims(Handle, p, dims.Length, out r));
        return new Tensor(r);
    }

    /// <summary>A broadcast view with the given sizes; -1 keeps a dim's size.</summary>
    public unsafe Tensor expand(params long[] sizes)
    {
        IntPtr r;
        fixed (long* p = sizes) Check(dst_expand(Handle, p, sizes.Length, out r));
        return new Tensor(r);
    }

    public Tensor expand_as(Tensor other) { Check(dst_expand_as(Handle, other.Handle, out var r)); return new Tensor(r); }

    public unsafe Tensor broadcast_to(params long[] sizes)
    {
        IntPtr r;
        fixed (long* p = sizes) Check(dst_broadcast_to(Handle, p, sizes.Length, out r));
        return new Tensor(r);
    }

    public Tensor view_as(Tensor other) => view(other.shape);
    public Tensor reshape_as(Tensor other) => reshape(other.shape);

    /// <summary>The slice [start, start + length) of dim <paramref name="dim"/>, as a view.</summary>
    public Tensor narrow(long dim, long start, long length) { Check(dst_narrow(Handle, dim, start, length, out var r)); return new Tensor(r); }

    /// <summary>The slice at <paramref name="index"/> (may be negative) of dim <paramref name="dim"/>, which is removed.</summary>
    public Tensor select(long dim, long index) { Check(dst_select(Handle, dim, index, out var r)); return new Tensor(r); }

    public Tensor diagonal(long offset = 0, long dim1 = 0, long dim2 = 1) { Check(dst_diagonal(Handle, offset, dim1, dim2, out var r)); return new Tensor(r); }

    /// <summary>Splits into <paramref name="chunks"/> views of equal size (the last may be smaller, and there may be fewer).</summary>
    public Tensor[] chunk(long chunks, long dim = 0)
    {
        Check(dst_chunk(Handle, chunks, dim, out var array, out var count));
        return TensorLists.Take(array, count);
    }

    /// <summary>Splits into views of <paramref name="split_size"/> along <paramref name="dim"/> (the last may be smaller).</summary>
    public Tensor[] split(long split_size, long dim = 0)
    {
        Check(dst_split(Handle, split_size, dim, out var array, out var count));
        return TensorLists.Take(array, count);
    }

    /// <summary>Splits into views of the given sizes, which must add up to the size of <paramref name="dim"/>.</summary>
    public unsafe Tensor[] split(long[] split_sizes, long dim = 0)
    {
        IntPtr array;
        long count;
        fixed (long* p = split_sizes) Check(dst_split_with_sizes(Handle, p, split_sizes.Length, dim, out array, out count));
        return TensorLists.Take(array, count);
    }

    /// <summary>Removes <paramref name="dim"/>, returning every slice along it.</summary>
    public Tensor[] unbind(long dim = 0)
    {
        Check(dst_unbind(Handle, dim, out var array, out var count));
        return TensorLists.Take(array, count);
    }

    /// <summary>Tiles the tensor; <paramref name="repeats"/> may have more dims than the tensor.</summary>
    public unsafe Tensor repeat(params long[] repeats)
    {
        IntPtr r;
        fixed (long* p = repeats) Check(dst_repeat(Handle, p, repeats.Length, out r));
        return new Tensor(r);
    }

    public unsafe Tensor flip(params long[] dims)
    {
        IntPtr r;
        fixed (long* p = dims) Check(dst_flip(Handle, p, dims.Length, out r));
        return new Tensor(r);
    }

    /// <summary>Rolls along <paramref name="dim"/>, or over the flattened tensor when no dim is given.</summary>
    public Tensor roll(long shifts, long? dim = null) =>
        dim is null ? roll(new[] { shifts }, Array.Empty<long>()) : roll(new[] { shifts }, new[] { dim.Value });

    public unsafe Tensor roll(long[] shifts, long[] dims)
    {
        IntPtr r;
        fixed (long* s = shifts)
        fixed (long* d = dims)
            Check(dst_roll(Handle, s, shifts.Length, d, dims.Length, out r));
        return new Tensor(r);
    }

    public Tensor movedim(long source, long destination) => movedim(new[] { source }, new[] { destination });

    public unsafe Tensor movedim(long[] source, long[] destination)
    {
        IntPtr r;
        fixed (long* s = source)
        fixed (long* d = destination)
            Check(dst_movedim(Handle, s, source.Length, d, destination.Length, out r));
        return new Tensor(r);
    }

    /// <summary>NumPy's name for <see cref="movedim(long, long)"/>.</summary>
    public Tensor moveaxis(long source, long destination) => movedim(source, destination);
}
