// Layout helpers shared by the kiosk and the board.

/** Shrink a number's text to fit its element on one line (a long code, a narrow screen), down
 * to twice the page's text size; past that it wraps at that size. */
export function fitToWidth(element) {
  element.style.fontSize = "";
  element.classList.remove("wrap");
  const text = document.createRange();
  text.selectNodeContents(element);
  const room = element.clientWidth;
  const needed = text.getBoundingClientRect().width;
  if (room > 0 && needed > room) {
    const size = Number.parseFloat(getComputedStyle(element).fontSize);
    const floor = 2 * Number.parseFloat(getComputedStyle(document.body).fontSize);
    const fitted = Math.floor((size * room) / needed);
    element.style.fontSize = `${Math.max(fitted, Math.ceil(floor))}px`;
    element.classList.toggle("wrap", fitted < floor);
  }
}
